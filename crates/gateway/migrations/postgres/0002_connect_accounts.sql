-- Accounts connected by login: credentials and tokens are sealed
-- (XChaCha20-Poly1305, see src/crypto.rs); fansly_id is unknown until the
-- login succeeds. Tokens stored in clear before this migration are dropped:
-- those accounts must reconnect.
ALTER TABLE fansly_accounts ALTER COLUMN fansly_id DROP NOT NULL;
ALTER TABLE fansly_accounts ALTER COLUMN fansly_username DROP NOT NULL;
ALTER TABLE fansly_accounts ADD COLUMN login_name TEXT;
ALTER TABLE fansly_accounts ADD COLUMN password TEXT;
ALTER TABLE fansly_accounts ADD COLUMN proxy_url TEXT;
ALTER TABLE fansly_accounts ADD COLUMN proxy_label TEXT;
ALTER TABLE fansly_accounts ADD COLUMN twofa_token TEXT;
ALTER TABLE fansly_accounts ADD COLUMN twofa_type BIGINT;
ALTER TABLE fansly_accounts ADD COLUMN masked_email TEXT;
ALTER TABLE fansly_accounts ADD COLUMN pending_code TEXT;
ALTER TABLE fansly_accounts ADD COLUMN last_error TEXT;
UPDATE fansly_accounts SET session_token = NULL, auth_state = 'needs-reconnect',
    last_error = 'stored before encryption at rest; connect the account again';
CREATE INDEX fansly_accounts_team ON fansly_accounts (team_id);
CREATE INDEX fansly_accounts_state ON fansly_accounts (auth_state);
