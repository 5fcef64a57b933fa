-- Reservations without holds (see the PostgreSQL migration of the same
-- number for why): a debit names the committer run that wrote it, a refund
-- the debit it gives back, and each run reports its last debit and which
-- of its debits are still open.
ALTER TABLE credit_ledger ADD COLUMN run_id BIGINT;
ALTER TABLE credit_ledger ADD COLUMN refund_of BIGINT;
CREATE UNIQUE INDEX credit_ledger_refund_of ON credit_ledger (refund_of)
    WHERE refund_of IS NOT NULL;

CREATE TABLE credit_runs (
    id BIGINT PRIMARY KEY,
    last_debit BIGINT NOT NULL,
    open_debits TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Holds the previous version left are refunded here, one ledger row each.
INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at)
SELECT h.team_id, h.cost,
       t.credits + SUM(h.cost) OVER (PARTITION BY h.team_id ORDER BY h.created_at, h.id
                                     ROWS UNBOUNDED PRECEDING),
       'refund', h.endpoint, h.request_id, CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM credit_holds h JOIN teams t ON t.id = h.team_id
ORDER BY h.team_id, h.created_at, h.id;
UPDATE teams SET credits = credits + (SELECT SUM(cost) FROM credit_holds h WHERE h.team_id = teams.id)
WHERE id IN (SELECT team_id FROM credit_holds);
DROP TABLE credit_holds;
