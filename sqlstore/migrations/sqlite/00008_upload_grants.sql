-- Upload grants (DESIGN.md §8, docs/models.md): short-lived credentials scoped to uploading, made
-- by a user for a browser. The counters are the grant's reservations; the CHECKs keep them within
-- the limits whoever writes the row, so two instances reserving at once can never overshoot.
-- A file uploaded with a grant records it.

-- +goose Up
CREATE TABLE upload_grants (
    id              TEXT    NOT NULL PRIMARY KEY,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    created_by_id   TEXT    NOT NULL REFERENCES users (id),
    token_hash      TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    prefix          TEXT    NOT NULL,
    batch_id        TEXT    REFERENCES upload_batches (id),
    max_files       INTEGER NOT NULL CHECK (max_files >= 1),
    max_file_bytes  INTEGER CHECK (max_file_bytes >= 1),
    max_total_bytes INTEGER CHECK (max_total_bytes >= 1),
    content_types   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(content_types) AND json_type(content_types) = 'array'),
    metadata        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    expires_at      TEXT    NOT NULL,
    revoked_at      TEXT,
    files_used      INTEGER NOT NULL DEFAULT 0,
    bytes_used      INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT upload_grants_files_check CHECK (files_used BETWEEN 0 AND max_files),
    CONSTRAINT upload_grants_bytes_check CHECK (bytes_used >= 0 AND (max_total_bytes IS NULL OR bytes_used <= max_total_bytes))
) STRICT;

CREATE INDEX upload_grants_created_by_id_idx ON upload_grants (created_by_id, id);

ALTER TABLE ingest_files ADD COLUMN grant_id TEXT REFERENCES upload_grants (id);
CREATE INDEX ingest_files_grant_id_idx ON ingest_files (grant_id, id);

-- +goose Down
DROP INDEX ingest_files_grant_id_idx;
ALTER TABLE ingest_files DROP COLUMN grant_id;
DROP TABLE upload_grants;
