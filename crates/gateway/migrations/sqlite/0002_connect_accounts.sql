-- Accounts connected by login: credentials and tokens are sealed
-- (XChaCha20-Poly1305, see src/crypto.rs); fansly_id is unknown until the
-- login succeeds. Tokens stored in clear before this migration are dropped:
-- those accounts must reconnect.
CREATE TABLE fansly_accounts_new (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    display_name TEXT NOT NULL,
    fansly_id TEXT,
    fansly_username TEXT,
    login_name TEXT,
    auth_state TEXT NOT NULL,
    session_token TEXT,
    password TEXT,
    proxy_url TEXT,
    proxy_label TEXT,
    twofa_token TEXT,
    twofa_type BIGINT,
    masked_email TEXT,
    pending_code TEXT,
    last_error TEXT,
    device_id TEXT,
    fansly_user_data TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (team_id, fansly_id)
);
INSERT INTO fansly_accounts_new (id, team_id, display_name, fansly_id, fansly_username,
    auth_state, last_error, device_id, fansly_user_data, created_at, updated_at)
SELECT id, team_id, display_name, fansly_id, fansly_username, 'needs-reconnect',
    'stored before encryption at rest; connect the account again', device_id,
    fansly_user_data, created_at, updated_at
FROM fansly_accounts;
DROP TABLE fansly_accounts;
ALTER TABLE fansly_accounts_new RENAME TO fansly_accounts;
CREATE INDEX fansly_accounts_team ON fansly_accounts (team_id);
CREATE INDEX fansly_accounts_state ON fansly_accounts (auth_state);
