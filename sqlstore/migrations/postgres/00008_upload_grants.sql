-- Upload grants (DESIGN.md §8, docs/models.md): short-lived credentials scoped to uploading, made
-- by a user for a browser. The counters are the grant's reservations; the CHECKs keep them within
-- the limits whoever writes the row, so two instances reserving at once can never overshoot.
-- A file uploaded with a grant records it.

-- +goose Up
CREATE TABLE upload_grants (
    id              uuid        PRIMARY KEY,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    created_by_id   uuid        NOT NULL REFERENCES users (id),
    token_hash      text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    prefix          text        NOT NULL,
    batch_id        uuid        REFERENCES upload_batches (id),
    max_files       integer     NOT NULL CHECK (max_files >= 1),
    max_file_bytes  bigint      CHECK (max_file_bytes >= 1),
    max_total_bytes bigint      CHECK (max_total_bytes >= 1),
    content_types   jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(content_types) = 'array'),
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    files_used      integer     NOT NULL DEFAULT 0,
    bytes_used      bigint      NOT NULL DEFAULT 0,
    CONSTRAINT upload_grants_files_check CHECK (files_used BETWEEN 0 AND max_files),
    CONSTRAINT upload_grants_bytes_check CHECK (bytes_used >= 0 AND (max_total_bytes IS NULL OR bytes_used <= max_total_bytes))
);

CREATE INDEX upload_grants_created_by_id_idx ON upload_grants (created_by_id, id);

ALTER TABLE ingest_files ADD COLUMN grant_id uuid REFERENCES upload_grants (id);
CREATE INDEX ingest_files_grant_id_idx ON ingest_files (grant_id, id);

-- +goose Down
DROP INDEX ingest_files_grant_id_idx;
ALTER TABLE ingest_files DROP COLUMN grant_id;
DROP TABLE upload_grants;
