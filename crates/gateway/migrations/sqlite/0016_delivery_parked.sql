-- A delivery deferred because its team could not pay (`parked = 1`), told
-- apart from one waiting for a retry, so a grant can make the team's parked
-- deliveries due at once instead of at the next check of unpaid teams.
ALTER TABLE webhook_deliveries ADD COLUMN parked BIGINT NOT NULL DEFAULT 0;
CREATE INDEX webhook_deliveries_parked ON webhook_deliveries (team_id)
    WHERE parked = 1 AND status = 'pending';
