-- Per-chat order at the receiver: a delivery of a message carries its chat
-- (`order_key`, e.g. `chat:<groupId>`) and its Fansly id (`order_seq`); the
-- claim takes a delivery only once every earlier pending one of the same
-- endpoint and key is delivered, given up, or claimed with it.
ALTER TABLE webhook_deliveries ADD COLUMN order_key TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN order_seq BIGINT;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, order_seq)
    WHERE status = 'pending' AND order_key IS NOT NULL;
