-- Mass messages (broadcasts). The gateway owns scheduling and the fan-out:
-- one row per broadcast with its content and audience (JSON), its schedule
-- and state (scheduled → sending → sent | cancelled | failed), and a lease
-- (lease_owner, lease_until) so exactly one instance works on it at a time
-- and a crashed instance's claim is taken over once it expires.
-- Recipients are written once, when the audience is resolved at fire time;
-- (broadcast_id, fan_id) is the primary key, so no fan is ever listed twice,
-- and each row records the delivered message id or the error.
-- Times are Unix milliseconds.
CREATE TABLE broadcasts (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES fansly_accounts (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    scheduled_for BIGINT,
    due_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    total BIGINT,
    sent BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX broadcasts_due ON broadcasts (state, due_at);
CREATE INDEX broadcasts_account ON broadcasts (team_id, account_id, created_at);

CREATE TABLE broadcast_recipients (
    broadcast_id TEXT NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    fan_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    attempt_started_at BIGINT,
    group_id TEXT,
    message_id TEXT,
    error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (broadcast_id, fan_id)
);
CREATE INDEX broadcast_recipients_pending ON broadcast_recipients (broadcast_id, state, next_attempt_at);
