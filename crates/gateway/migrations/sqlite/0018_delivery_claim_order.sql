-- The claim (webhooks/claims.rs) takes due pending deliveries in
-- (next_attempt_at, order_seq) order up to its limit. With only
-- (status, next_attempt_at) to walk, rows sharing one next_attempt_at (a
-- grant makes a parked backlog due at the same instant) were all read and
-- sorted before the limit applied, and each paid the per-chat order check
-- against every earlier row of its chat: 2,000 parked messages of one chat
-- took ~0.8 s to claim the first 100. Walking this index in order, the
-- claim stops at its limit (~3 ms for the same backlog).
CREATE INDEX webhook_deliveries_claim ON webhook_deliveries (next_attempt_at, order_seq)
    WHERE status = 'pending';
