-- Times are Unix milliseconds; credits are whole credits.
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    credits BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    rate_limit_per_minute BIGINT CHECK (rate_limit_per_minute > 0),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_team ON api_keys (team_id);

-- Every change of teams.credits, written in the same transaction as the change.
CREATE TABLE credit_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id TEXT NOT NULL REFERENCES teams (id),
    delta BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reason TEXT NOT NULL,
    endpoint TEXT,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_ledger_team ON credit_ledger (team_id, id);
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
BEGIN SELECT RAISE(ABORT, 'credit_ledger is append-only'); END;
CREATE TRIGGER credit_ledger_no_delete BEFORE DELETE ON credit_ledger
BEGIN SELECT RAISE(ABORT, 'credit_ledger is append-only'); END;

-- Fixed 60-second windows per team, shared by every gateway instance.
CREATE TABLE rate_windows (
    team_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (team_id, window_start)
);

CREATE TABLE fansly_accounts (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    display_name TEXT NOT NULL,
    fansly_id TEXT NOT NULL,
    fansly_username TEXT NOT NULL,
    auth_state TEXT NOT NULL,
    session_token TEXT,
    device_id TEXT,
    fansly_user_data TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (team_id, fansly_id)
);

CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
