-- Idempotency keys (README "Idempotency keys"): the first answer to a write
-- carrying `Idempotency-Key`, kept per team for 24 h so a repeat gets the same
-- answer without a second Fansly call or charge. A row is inserted as
-- 'running' (the unique pair makes that insert the lock), then completed with
-- the answer; `locked_until` lets a retry take over a row whose instance died
-- mid-call. Times are Unix milliseconds; the body is the answer's text.
CREATE TABLE idempotency_keys (
    team_id TEXT NOT NULL REFERENCES teams (id),
    idem_key TEXT NOT NULL,
    -- SHA-256 of method, path, query and body: a repeat must match it.
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    -- Random per attempt: only the attempt holding the row may complete it.
    lease TEXT NOT NULL,
    locked_until BIGINT NOT NULL,
    status BIGINT,
    headers TEXT,
    body TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- A key whose MCP surface (/mcp) may only read: its write tools answer a
-- tool error. 0/1. REST calls with the key are unaffected.
ALTER TABLE api_keys ADD COLUMN mcp_read_only BIGINT NOT NULL DEFAULT 0;
