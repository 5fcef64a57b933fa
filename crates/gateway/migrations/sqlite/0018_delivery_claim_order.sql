-- The claim (webhooks/claims.rs) takes due pending deliveries in
-- (next_attempt_at, order_seq) order, up to its batch. With only
-- (status, next_attempt_at) to walk, every due row was read, checked and
-- sorted before the batch's limit applied, and each row's check against
-- the earlier pending rows of its chat made a one-chat backlog quadratic:
-- claiming the first 128 of 2,000 parked messages of one chat (all due at
-- the instant of a grant) took 324 ms on PostgreSQL. Walking this index in
-- order the claim stops at its limit: 12 ms for the same backlog.
CREATE INDEX webhook_deliveries_claim ON webhook_deliveries (next_attempt_at, order_seq)
    WHERE status = 'pending';
-- Every reader of the old index (the claim, the parker) asks for pending
-- rows only; this one also keeps delivered rows out of the index.
DROP INDEX webhook_deliveries_due;
