index admin_sessions_expires_at_idx
CREATE INDEX admin_sessions_expires_at_idx ON admin_sessions (expires_at)
index admin_sessions_user_id_idx
CREATE INDEX admin_sessions_user_id_idx ON admin_sessions (user_id)
index api_tokens_user_id_idx
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id)
index ingest_files_batch_id_idx
CREATE INDEX ingest_files_batch_id_idx ON ingest_files (batch_id, id)
index ingest_files_grant_id_idx
CREATE INDEX ingest_files_grant_id_idx ON ingest_files (grant_id, id)
index ingest_files_sha256_idx
CREATE INDEX ingest_files_sha256_idx ON ingest_files (sha256) WHERE sha256 IS NOT NULL
index ingest_files_size_bytes_idx
CREATE INDEX ingest_files_size_bytes_idx ON ingest_files (size_bytes, id)
index ingest_files_status_idx
CREATE INDEX ingest_files_status_idx ON ingest_files (status, id)
index ingest_files_stored_at_idx
CREATE INDEX ingest_files_stored_at_idx ON ingest_files (stored_at) WHERE stored_at IS NOT NULL
index ingest_files_uploaded_by_id_idx
CREATE INDEX ingest_files_uploaded_by_id_idx ON ingest_files (uploaded_by_id, id)
index portal_event_outbox_due_idx
CREATE INDEX portal_event_outbox_due_idx ON portal_event_outbox (next_attempt_at, id)
    WHERE status IN ('PENDING', 'SENDING')
index portal_event_outbox_failed_idx
CREATE INDEX portal_event_outbox_failed_idx ON portal_event_outbox (id) WHERE status = 'FAILED'
index portal_event_outbox_file_id_idx
CREATE INDEX portal_event_outbox_file_id_idx ON portal_event_outbox (file_id)
index portal_event_outbox_status_idx
CREATE INDEX portal_event_outbox_status_idx ON portal_event_outbox (status, id)
index upload_batches_created_by_id_idx
CREATE INDEX upload_batches_created_by_id_idx ON upload_batches (created_by_id, id)
index upload_batches_status_idx
CREATE INDEX upload_batches_status_idx ON upload_batches (status, id)
index upload_grants_created_by_id_idx
CREATE INDEX upload_grants_created_by_id_idx ON upload_grants (created_by_id, id)
index upload_reservations_user_idx
CREATE INDEX upload_reservations_user_idx ON upload_reservations (user_id, expires_at)
index upload_sessions_active_expires_at_idx
CREATE INDEX upload_sessions_active_expires_at_idx ON upload_sessions (expires_at)
    WHERE status IN ('INIT', 'IN_PROGRESS')
index upload_sessions_active_uploader_idx
CREATE INDEX upload_sessions_active_uploader_idx ON upload_sessions (uploaded_by_id)
    WHERE status IN ('INIT', 'IN_PROGRESS')
index upload_sessions_status_idx
CREATE INDEX upload_sessions_status_idx ON upload_sessions (status, id)
table admin_sessions
CREATE TABLE admin_sessions (
    id          TEXT NOT NULL PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    secret_hash TEXT NOT NULL UNIQUE CHECK (length(secret_hash) = 64 AND secret_hash NOT GLOB '*[^0-9a-f]*'),
    csrf_token  TEXT NOT NULL CHECK (length(csrf_token) >= 32),
    expires_at  TEXT NOT NULL
) STRICT
table api_tokens
CREATE TABLE api_tokens (
    id           TEXT NOT NULL PRIMARY KEY,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    prefix       TEXT NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
) STRICT
table ingest_files
CREATE TABLE ingest_files (
    id                TEXT    NOT NULL PRIMARY KEY,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'UPLOADING' CHECK (status IN ('UPLOADING', 'STORED', 'FAILED')),
    sha256            TEXT    CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size_bytes        INTEGER NOT NULL CHECK (size_bytes >= 0),
    storage_backend   TEXT    CHECK (storage_backend IN ('local', 's3', 'gcs', 'azure')),
    storage_bucket    TEXT,
    storage_key       TEXT,
    original_filename TEXT    NOT NULL CHECK (length(original_filename) >= 1),
    content_type      TEXT    NOT NULL DEFAULT '',
    uploaded_by_id    TEXT    NOT NULL REFERENCES users (id),
    batch_id          TEXT    REFERENCES upload_batches (id),
    stored_at         TEXT,
    failure_reason    TEXT, partial INTEGER NOT NULL DEFAULT 0
    CHECK (partial IN (0, 1) AND (partial = 0 OR status <> 'STORED')), metadata TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(metadata) AND json_type(metadata) = 'object'), failure_code TEXT
    CONSTRAINT ingest_files_failure_code_check
    CHECK (failure_code IN ('CHECKSUM_MISMATCH', 'SESSION_EXPIRED', 'SESSION_NOT_ACTIVE', 'ABORTED', 'BATCH_CANCELLED'))
    CONSTRAINT ingest_files_failed_code_check CHECK ((status = 'FAILED') = (failure_code IS NOT NULL)), grant_id TEXT REFERENCES upload_grants (id),
    CONSTRAINT ingest_files_stored_check CHECK (
        status <> 'STORED' OR (
            sha256 IS NOT NULL AND size_bytes IS NOT NULL AND storage_backend IS NOT NULL
            AND storage_key IS NOT NULL AND storage_key <> '' AND stored_at IS NOT NULL
            AND (storage_backend NOT IN ('s3', 'gcs', 'azure') OR (storage_bucket IS NOT NULL AND storage_bucket <> ''))
        )
    ),
    CONSTRAINT ingest_files_failed_check CHECK (status <> 'FAILED' OR failure_reason IS NOT NULL)
) STRICT
table portal_event_outbox
CREATE TABLE portal_event_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    event_id        TEXT    NOT NULL UNIQUE,
    idempotency_key TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    status          TEXT    NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')),
    next_attempt_at TEXT    NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    file_id         TEXT    NOT NULL REFERENCES ingest_files (id),
    last_error      TEXT,
    delivered_at    TEXT, retry_base_attempts INTEGER NOT NULL DEFAULT 0
    CHECK (retry_base_attempts >= 0 AND retry_base_attempts <= attempt_count),
    CONSTRAINT portal_event_outbox_delivered_check CHECK (status <> 'DELIVERED' OR delivered_at IS NOT NULL),
    CONSTRAINT portal_event_outbox_type_key_unique UNIQUE (event_type, idempotency_key)
) STRICT
table upload_batches
CREATE TABLE upload_batches (
    id            TEXT    NOT NULL PRIMARY KEY,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'OPEN'
                  CHECK (status IN ('OPEN', 'SEALED', 'COMPLETE', 'PARTIAL', 'FAILED', 'CANCELLED')),
    name          TEXT    NOT NULL DEFAULT '',
    created_by_id TEXT    NOT NULL REFERENCES users (id),
    total_files   INTEGER NOT NULL DEFAULT 0 CHECK (total_files >= 0),
    stored_count  INTEGER NOT NULL DEFAULT 0 CHECK (stored_count >= 0),
    failed_count  INTEGER NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    sealed_at     TEXT,
    CONSTRAINT upload_batches_counts_check CHECK (stored_count + failed_count <= total_files),
    CONSTRAINT upload_batches_outcome_check CHECK (
        (status <> 'COMPLETE' OR (stored_count = total_files AND failed_count = 0))
        AND (status <> 'PARTIAL' OR (stored_count + failed_count = total_files AND stored_count > 0 AND failed_count > 0))
        AND (status <> 'FAILED' OR (failed_count = total_files AND total_files > 0))
    ),
    CONSTRAINT upload_batches_sealed_check CHECK (status IN ('OPEN', 'CANCELLED') OR sealed_at IS NOT NULL)
) STRICT
table upload_grants
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
) STRICT
table upload_parts
CREATE TABLE upload_parts (
    id          TEXT    NOT NULL PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES upload_sessions (id),
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    status      TEXT    NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RECEIVED', 'FAILED')),
    temp_key    TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
    crc32c      INTEGER CHECK (crc32c BETWEEN 0 AND 4294967295),
    sha256      TEXT    CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'), etag TEXT,
    CONSTRAINT upload_parts_received_check CHECK (status <> 'RECEIVED' OR crc32c IS NOT NULL),
    CONSTRAINT upload_parts_session_part_unique UNIQUE (session_id, part_number)
) STRICT
table upload_reservations
CREATE TABLE upload_reservations (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    expires_at TEXT    NOT NULL
) STRICT
table upload_sessions
CREATE TABLE upload_sessions (
    id                   TEXT    NOT NULL PRIMARY KEY,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    file_id              TEXT    NOT NULL UNIQUE REFERENCES ingest_files (id),
    status               TEXT    NOT NULL DEFAULT 'INIT'
                         CHECK (status IN ('INIT', 'IN_PROGRESS', 'COMPLETE', 'FAILED', 'ABORTED')),
    chunk_size_bytes     INTEGER NOT NULL CHECK (chunk_size_bytes > 0),
    total_parts          INTEGER NOT NULL CHECK (total_parts BETWEEN 0 AND 10000),
    received_parts_count INTEGER NOT NULL DEFAULT 0,
    idempotency_key      TEXT    CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    uploaded_by_id       TEXT    NOT NULL REFERENCES users (id),
    expires_at           TEXT    NOT NULL,
    declared_sha256      TEXT    CHECK (length(declared_sha256) = 64 AND declared_sha256 NOT GLOB '*[^0-9a-f]*'),
    hash_state           BLOB,
    hashed_parts         INTEGER NOT NULL DEFAULT 0,
    storage_upload_id    TEXT,
    completed_at         TEXT, streamed INTEGER NOT NULL DEFAULT 0 CHECK (streamed IN (0, 1)), offset_bytes INTEGER NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0), tail_crc32c INTEGER NOT NULL DEFAULT 0 CHECK (tail_crc32c BETWEEN 0 AND 4294967295), length_deferred INTEGER NOT NULL DEFAULT 0 CHECK (length_deferred IN (0, 1)), partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)), lease_owner TEXT CHECK (length(lease_owner) BETWEEN 1 AND 64), lease_expires_at TEXT, tus_metadata TEXT CHECK (length(tus_metadata) BETWEEN 1 AND 16384), tus_concat TEXT CHECK (length(tus_concat) BETWEEN 1 AND 65536),
    CONSTRAINT upload_sessions_parts_check CHECK (received_parts_count BETWEEN 0 AND total_parts),
    CONSTRAINT upload_sessions_hashed_parts_check CHECK (hashed_parts BETWEEN 0 AND received_parts_count),
    CONSTRAINT upload_sessions_complete_check CHECK (
        status <> 'COMPLETE' OR (completed_at IS NOT NULL AND received_parts_count = total_parts)
    ),
    CONSTRAINT upload_sessions_idempotency_key_unique UNIQUE (uploaded_by_id, idempotency_key)
) STRICT
table uppy_part_sizes
CREATE TABLE uppy_part_sizes (
    session_id      TEXT    NOT NULL PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
    part_size_bytes INTEGER NOT NULL CHECK (part_size_bytes > 0)
) STRICT
table users
CREATE TABLE users (
    id          TEXT    NOT NULL PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    username    TEXT    NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    is_admin    INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    disabled_at TEXT
, password_hash TEXT CHECK (password_hash LIKE '$argon2id$%')) STRICT
trigger ingest_files_terminal_status
CREATE TRIGGER ingest_files_terminal_status
BEFORE UPDATE OF status ON ingest_files
WHEN OLD.status IN ('STORED', 'FAILED') AND NEW.status <> OLD.status
BEGIN
    SELECT RAISE(ABORT, 'ingest_files: a STORED or FAILED file cannot change status');
END
trigger portal_event_outbox_requires_stored_file
CREATE TRIGGER portal_event_outbox_requires_stored_file
BEFORE INSERT ON portal_event_outbox
WHEN (SELECT status FROM ingest_files WHERE id = NEW.file_id) IS NOT 'STORED'
BEGIN
    SELECT RAISE(ABORT, 'portal_event_outbox: the file is not STORED');
END
trigger portal_event_outbox_requires_stored_file_on_update
CREATE TRIGGER portal_event_outbox_requires_stored_file_on_update
BEFORE UPDATE OF file_id ON portal_event_outbox
WHEN (SELECT status FROM ingest_files WHERE id = NEW.file_id) IS NOT 'STORED'
BEGIN
    SELECT RAISE(ABORT, 'portal_event_outbox: the file is not STORED');
END
