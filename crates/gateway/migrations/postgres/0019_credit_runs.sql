-- Reservations without holds. A hold was a row written and deleted again
-- per metered call, only so a crash could be told from a settled call;
-- it was a third of PostgreSQL's work per call (BENCHMARKS.md, eighth
-- round). Now a debit names the committer run that wrote it, and each run
-- reports, with a heartbeat every few seconds, its last debit and which of
-- its debits are still open (every other one up to the last is settled:
-- kept or refunded). A run whose heartbeat stopped died; its open debits
-- and those after its last reported one, without a refund, are orphans and
-- are refunded once (metering/group_commit.rs, settle_orphans).
ALTER TABLE credit_ledger ADD COLUMN run_id BIGINT;
-- A refund names the debit it gives back; at most one refund per debit,
-- so a call refunded by its own instance and by a settler racing it is
-- refunded once.
ALTER TABLE credit_ledger ADD COLUMN refund_of BIGINT;
CREATE UNIQUE INDEX credit_ledger_refund_of ON credit_ledger (refund_of)
    WHERE refund_of IS NOT NULL;

CREATE TABLE credit_runs (
    id BIGINT PRIMARY KEY,
    -- This run's debits up to this ledger id are settled, but those in
    -- open_debits (a JSON array of ledger ids).
    last_debit BIGINT NOT NULL,
    open_debits TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Holds the previous version left (its process stopped mid-call) are
-- refunded here, each with its own ledger row, as its settle_orphans did.
-- Stop instances of the previous version before starting this one: a call
-- still in flight there would be refunded too (never charged twice).
WITH owed AS (SELECT team_id, SUM(cost) AS total FROM credit_holds GROUP BY team_id),
     credited AS (UPDATE teams SET credits = teams.credits + owed.total FROM owed
       WHERE teams.id = owed.team_id RETURNING teams.id, teams.credits - owed.total AS before)
INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at)
SELECT h.team_id, h.cost,
       c.before + SUM(h.cost) OVER (PARTITION BY h.team_id ORDER BY h.created_at, h.id),
       'refund', h.endpoint, h.request_id, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
FROM credit_holds h JOIN credited c ON c.id = h.team_id
ORDER BY h.team_id, h.created_at, h.id;
DROP TABLE credit_holds;
