-- Streamed uploads (tus, docs/tus.md): bytes that arrive in order at an offset, one writer at a
-- time under a lease, sizes declared late, and partial uploads that are only pieces of another.

-- +goose Up
ALTER TABLE upload_sessions
    ADD COLUMN streamed         boolean     NOT NULL DEFAULT false,
    -- The durable bytes received in order; the hash state covers exactly them.
    ADD COLUMN offset_bytes     bigint      NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0),
    -- The CRC32C of the bytes after the last whole part, continued by the next write.
    ADD COLUMN tail_crc32c      bigint      NOT NULL DEFAULT 0 CHECK (tail_crc32c BETWEEN 0 AND 4294967295),
    ADD COLUMN length_deferred  boolean     NOT NULL DEFAULT false,
    ADD COLUMN partial          boolean     NOT NULL DEFAULT false,
    -- The one writer of a streamed upload, until its lease runs out.
    ADD COLUMN lease_owner      text        CHECK (length(lease_owner) BETWEEN 1 AND 64),
    ADD COLUMN lease_expires_at timestamptz,
    -- The tus Upload-Metadata and Upload-Concat (of a final upload) headers as the client sent
    -- them: tus answers them on HEAD as received.
    ADD COLUMN tus_metadata     text        CHECK (length(tus_metadata) BETWEEN 1 AND 16384),
    ADD COLUMN tus_concat       text        CHECK (length(tus_concat) BETWEEN 1 AND 65536);
-- A partial upload's file is never STORED, so it never has an event, and lists leave it out.
ALTER TABLE ingest_files
    ADD COLUMN partial boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT ingest_files_partial_check CHECK (NOT partial OR status <> 'STORED');

-- +goose Down
ALTER TABLE ingest_files DROP COLUMN partial;
ALTER TABLE upload_sessions
    DROP COLUMN tus_concat,
    DROP COLUMN tus_metadata,
    DROP COLUMN lease_expires_at,
    DROP COLUMN lease_owner,
    DROP COLUMN partial,
    DROP COLUMN length_deferred,
    DROP COLUMN tail_crc32c,
    DROP COLUMN offset_bytes,
    DROP COLUMN streamed;
