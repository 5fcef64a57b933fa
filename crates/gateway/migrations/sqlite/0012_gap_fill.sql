-- Gap fill: what the gateway has seen of each account's Fansly activity, so
-- a break in the websocket (drop, re-login, restart, takeover) is followed
-- by asking Fansly's REST API for what happened meanwhile.
--
-- One row per account: when a fill is next due (set to "now" whenever the
-- account's socket (re)connects, pushed a sweep interval ahead after each
-- fill) and the baseline: the gateway never fills from before it first saw
-- the account. Times are Unix milliseconds.
CREATE TABLE gap_fill_accounts (
    account_id TEXT PRIMARY KEY REFERENCES fansly_accounts (id) ON DELETE CASCADE,
    baseline_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    last_fill_at BIGINT,
    last_filled BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX gap_fill_accounts_due ON gap_fill_accounts (due_at);

-- High-water marks per account and source (`chats`, `chat:<groupId>`,
-- `followers`, `transactions`, `payouts`, `posts`, ...): the newest Fansly id
-- (a snowflake, so newer is larger) already recorded. Marks only move
-- forward.
CREATE TABLE gap_marks (
    account_id TEXT NOT NULL REFERENCES fansly_accounts (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    mark BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, source)
);

-- What the sweep last saw of things Fansly announces no event for (a post's
-- expiry, a payout's state, a chat's `hidden` setting): one value per item,
-- compared on the next sweep to tell what changed.
CREATE TABLE gap_snapshots (
    account_id TEXT NOT NULL REFERENCES fansly_accounts (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    item TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, source, item)
);
