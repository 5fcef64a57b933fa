-- Every metered call writes one hold and deletes it again, so each index on
-- credit_holds is written twice per call. The table only ever holds the
-- calls in flight (a few hundred rows at most), so it is scanned whole when
-- orphans are settled instead of keeping a created_at index, and it is
-- clustered on its key (WITHOUT ROWID: one b-tree instead of the rowid
-- table plus the key's automatic index).
CREATE TABLE credit_holds_lean (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    cost BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    request_id TEXT,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO credit_holds_lean SELECT id, team_id, cost, endpoint, request_id, created_at FROM credit_holds;
DROP TABLE credit_holds;
ALTER TABLE credit_holds_lean RENAME TO credit_holds;
