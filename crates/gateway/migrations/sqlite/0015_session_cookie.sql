-- The web app's session as Fansly set it up (issue 13, row 12): the `f-s-c`
-- cookie Fansly's login answer sets (sealed like the token; the websocket
-- handshake sends it), and when the device id was last fetched, so it is
-- fetched again every `relay.device_id_refresh_ms` as the web app does.
ALTER TABLE fansly_accounts ADD COLUMN session_cookie TEXT;
ALTER TABLE fansly_accounts ADD COLUMN device_id_at BIGINT;
