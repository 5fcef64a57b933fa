-- The event outbox: every Fansly event the gateway observed (from the
-- websocket relay, or an account's lifecycle), written before anything is
-- delivered. The id is derived from (account, upstream event key), so the
-- primary key is also the dedup record: the same upstream event seen twice
-- (a reconnect replays it, two relays overlap) is one row. Ephemeral events
-- (typing, presence) have no upstream key and a random id.
-- No foreign key to fansly_accounts: `fansly.accounts.disconnected` outlives
-- the account it is about. Times are Unix milliseconds.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dedup_key TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_team_created ON events (team_id, created_at);
