-- Disconnecting an account erases its media handles with it.
ALTER TABLE media_uploads DROP CONSTRAINT media_uploads_account_id_fkey;
ALTER TABLE media_uploads ADD CONSTRAINT media_uploads_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES fansly_accounts (id) ON DELETE CASCADE;
CREATE INDEX media_uploads_status ON media_uploads (status, updated_at);
