-- Streamed uploads (tus, docs/tus.md): bytes that arrive in order at an offset, one writer at a
-- time under a lease, sizes declared late, and partial uploads that are only pieces of another.

-- +goose Up
ALTER TABLE upload_sessions ADD COLUMN streamed INTEGER NOT NULL DEFAULT 0 CHECK (streamed IN (0, 1));
-- The durable bytes received in order; the hash state covers exactly them.
ALTER TABLE upload_sessions ADD COLUMN offset_bytes INTEGER NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0);
-- The CRC32C of the bytes after the last whole part, continued by the next write.
ALTER TABLE upload_sessions ADD COLUMN tail_crc32c INTEGER NOT NULL DEFAULT 0 CHECK (tail_crc32c BETWEEN 0 AND 4294967295);
ALTER TABLE upload_sessions ADD COLUMN length_deferred INTEGER NOT NULL DEFAULT 0 CHECK (length_deferred IN (0, 1));
ALTER TABLE upload_sessions ADD COLUMN partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1));
-- The one writer of a streamed upload, until its lease runs out.
ALTER TABLE upload_sessions ADD COLUMN lease_owner TEXT CHECK (length(lease_owner) BETWEEN 1 AND 64);
ALTER TABLE upload_sessions ADD COLUMN lease_expires_at TEXT;
-- The tus Upload-Metadata and Upload-Concat (of a final upload) headers as the client sent them:
-- tus answers them on HEAD as received.
ALTER TABLE upload_sessions ADD COLUMN tus_metadata TEXT CHECK (length(tus_metadata) BETWEEN 1 AND 16384);
ALTER TABLE upload_sessions ADD COLUMN tus_concat TEXT CHECK (length(tus_concat) BETWEEN 1 AND 65536);
-- A partial upload's file is never STORED, so it never has an event, and lists leave it out.
ALTER TABLE ingest_files ADD COLUMN partial INTEGER NOT NULL DEFAULT 0
    CHECK (partial IN (0, 1) AND (partial = 0 OR status <> 'STORED'));

-- +goose Down
ALTER TABLE ingest_files DROP COLUMN partial;
ALTER TABLE upload_sessions DROP COLUMN tus_concat;
ALTER TABLE upload_sessions DROP COLUMN tus_metadata;
ALTER TABLE upload_sessions DROP COLUMN lease_expires_at;
ALTER TABLE upload_sessions DROP COLUMN lease_owner;
ALTER TABLE upload_sessions DROP COLUMN partial;
ALTER TABLE upload_sessions DROP COLUMN length_deferred;
ALTER TABLE upload_sessions DROP COLUMN tail_crc32c;
ALTER TABLE upload_sessions DROP COLUMN offset_bytes;
ALTER TABLE upload_sessions DROP COLUMN streamed;
