-- Webhook endpoints, their deliveries (one row per event and endpoint,
-- written in the same transaction as the event) and every attempt made.
-- Times are Unix milliseconds; booleans are 0/1.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- JSON arrays of event names and of fansly_acct_ ids.
    events TEXT NOT NULL,
    account_scope TEXT NOT NULL CHECK (account_scope IN ('global', 'inclusive', 'exclusive')),
    account_ids TEXT NOT NULL,
    -- Sealed with the master key (crypto.rs); never answered.
    signing_secret TEXT,
    enabled BIGINT NOT NULL,
    -- Why the gateway disabled it (410, failing too long); NULL otherwise.
    disabled_reason TEXT,
    -- Start of the current run of failed attempts; NULL after a success.
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_team ON webhooks (team_id, created_at);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    account_id TEXT NOT NULL,
    -- The exact request body, so retries and redeliveries are byte-identical.
    body TEXT NOT NULL,
    -- NULL for ephemeral events (no X-OFAPI-Idempotency-Key).
    idempotency_key TEXT,
    redelivery_of TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- The lease: a worker owns the row until locked_until; a crashed
    -- worker's lease simply runs out and another worker takes the row.
    locked_until BIGINT NOT NULL DEFAULT 0,
    lease TEXT,
    last_error TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
-- Retention keeps an event while a delivery of it is kept.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    url TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    -- At most 1 KiB of the receiver's answer.
    response_excerpt TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- Delivered events not yet billed: one block of credits is charged each
-- time this reaches the configured block size (100 by default).
CREATE TABLE webhook_meter (
    team_id TEXT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    unbilled BIGINT NOT NULL
);
