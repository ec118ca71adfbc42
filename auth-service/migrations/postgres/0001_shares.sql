-- Every share created by auth-service. Times are Unix milliseconds (one representation on both
-- databases). The id is a fingerprint of the token: the token itself is never stored.
CREATE TABLE shares (
    id           TEXT PRIMARY KEY NOT NULL,
    token_type   TEXT NOT NULL,
    resources    TEXT NOT NULL,
    url          TEXT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   BIGINT,
    max_uses     BIGINT,
    use_count    BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX shares_newest_first ON shares (created_at DESC, id DESC);
CREATE INDEX shares_expires_at ON shares (expires_at);

-- The ids (DICOM UID, Orthanc id) of each share's resources: list and revoke by resource.
CREATE TABLE share_resources (
    resource_id TEXT NOT NULL,
    share_id    TEXT NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    PRIMARY KEY (resource_id, share_id)
);
CREATE INDEX share_resources_share ON share_resources (share_id);

-- Use-count batches already applied: a batch retried after an unknown commit outcome is skipped.
CREATE TABLE use_batches (
    id         TEXT PRIMARY KEY NOT NULL,
    applied_at BIGINT NOT NULL
);
