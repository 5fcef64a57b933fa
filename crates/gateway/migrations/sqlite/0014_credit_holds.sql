-- A credit reservation whose call has not settled yet: written with its
-- debit (same transaction), deleted when the call keeps the charge or is
-- refunded. A row left behind belongs to a call whose process died; it is
-- refunded when an instance starts (and by housekeeping), exactly once
-- (whoever deletes the row settles it).
CREATE TABLE credit_holds (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    cost BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_holds_created ON credit_holds (created_at);
