-- Disconnecting an account erases its media handles with it.
CREATE TABLE media_uploads_new (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    account_id TEXT NOT NULL REFERENCES fansly_accounts (id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    media_id TEXT,
    media TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO media_uploads_new SELECT id, team_id, account_id, file_name, mime_type, size_bytes,
    credits, status, media_id, media, error, created_at, updated_at FROM media_uploads;
DROP TABLE media_uploads;
ALTER TABLE media_uploads_new RENAME TO media_uploads;
CREATE INDEX media_uploads_owner ON media_uploads (team_id, account_id);
CREATE INDEX media_uploads_status ON media_uploads (status, updated_at);
