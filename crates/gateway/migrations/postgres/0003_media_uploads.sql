-- Media handles (fansly_media_…): the gateway's own ids for uploads, scoped
-- to the team and the account that uploaded. Times are Unix milliseconds.
CREATE TABLE media_uploads (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    account_id TEXT NOT NULL REFERENCES fansly_accounts (id),
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    -- Fansly's vault media id and the media object, once processed.
    media_id TEXT,
    media TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX media_uploads_owner ON media_uploads (team_id, account_id);
