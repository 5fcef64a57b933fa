-- Data exports (POST /api/data-exports, type fansly_chat_messages): one row
-- per export with its request (accounts as a JSON array, the time range,
-- options as JSON), its status (pending → queued → processing → completed |
-- failed), progress counters, the credits charged so far, and a lease
-- (lease_owner, lease_until) so one instance runs it at a time and a crashed
-- instance's export is taken over once the lease lapses. The result is kept
-- as rows (one JSON object per message, in export order by seq) so either
-- format (CSV, JSON Lines) is rendered at download and every instance can
-- serve it; rows go with their export (expires_at, housekeeping).
-- Times are Unix milliseconds.
CREATE TABLE data_exports (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    export_type TEXT NOT NULL,
    account_ids TEXT NOT NULL,
    file_type TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    chats_total BIGINT NOT NULL DEFAULT 0,
    chats_done BIGINT NOT NULL DEFAULT 0,
    rows_processed BIGINT NOT NULL DEFAULT 0,
    credits_charged BIGINT NOT NULL DEFAULT 0,
    failed_reason TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    failed_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX data_exports_team ON data_exports (team_id, created_at);
CREATE INDEX data_exports_due ON data_exports (status, lease_until);
CREATE INDEX data_exports_expiry ON data_exports (expires_at);

CREATE TABLE data_export_rows (
    export_id TEXT NOT NULL REFERENCES data_exports (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (export_id, seq)
);

-- Issue 16: the creator's e-mail is no longer kept in fansly_user_data
-- (accounts/sessions.rs drops it); rows stored before lose it here.
UPDATE fansly_accounts SET fansly_user_data = json_remove(fansly_user_data, '$.email')
WHERE fansly_user_data IS NOT NULL AND json_valid(fansly_user_data);
