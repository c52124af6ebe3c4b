-- The domain model of DESIGN.md §1.

-- +goose Up
CREATE TABLE users (
    id          uuid        PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    username    text        NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    is_admin    boolean     NOT NULL DEFAULT false,
    disabled_at timestamptz
);

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    user_id      uuid        NOT NULL REFERENCES users (id),
    name         text        NOT NULL DEFAULT '',
    token_hash   text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    prefix       text        NOT NULL,
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE upload_batches (
    id            uuid        PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'OPEN'
                  CHECK (status IN ('OPEN', 'SEALED', 'COMPLETE', 'PARTIAL', 'FAILED', 'CANCELLED')),
    name          text        NOT NULL DEFAULT '',
    created_by_id uuid        NOT NULL REFERENCES users (id),
    total_files   integer     NOT NULL DEFAULT 0 CHECK (total_files >= 0),
    stored_count  integer     NOT NULL DEFAULT 0 CHECK (stored_count >= 0),
    failed_count  integer     NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    sealed_at     timestamptz,
    CONSTRAINT upload_batches_counts_check CHECK (stored_count + failed_count <= total_files),
    CONSTRAINT upload_batches_outcome_check CHECK (
        (status <> 'COMPLETE' OR (stored_count = total_files AND failed_count = 0))
        AND (status <> 'PARTIAL' OR (stored_count + failed_count = total_files AND stored_count > 0 AND failed_count > 0))
        AND (status <> 'FAILED' OR (failed_count = total_files AND total_files > 0))
    ),
    CONSTRAINT upload_batches_sealed_check CHECK (status IN ('OPEN', 'CANCELLED') OR sealed_at IS NOT NULL)
);

CREATE INDEX upload_batches_created_by_id_idx ON upload_batches (created_by_id, id);

CREATE TABLE ingest_files (
    id                uuid        PRIMARY KEY,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    status            text        NOT NULL DEFAULT 'UPLOADING' CHECK (status IN ('UPLOADING', 'STORED', 'FAILED')),
    sha256            text        CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes        bigint      NOT NULL CHECK (size_bytes >= 0),
    storage_backend   text        CHECK (storage_backend IN ('local', 's3')),
    storage_bucket    text,
    storage_key       text,
    original_filename text        NOT NULL CHECK (length(original_filename) >= 1),
    content_type      text        NOT NULL DEFAULT '',
    uploaded_by_id    uuid        NOT NULL REFERENCES users (id),
    batch_id          uuid        REFERENCES upload_batches (id),
    stored_at         timestamptz,
    failure_reason    text,
    CONSTRAINT ingest_files_stored_check CHECK (
        status <> 'STORED' OR (
            sha256 IS NOT NULL AND size_bytes IS NOT NULL AND storage_backend IS NOT NULL
            AND storage_key IS NOT NULL AND storage_key <> '' AND stored_at IS NOT NULL
            AND (storage_backend <> 's3' OR (storage_bucket IS NOT NULL AND storage_bucket <> ''))
        )
    ),
    CONSTRAINT ingest_files_failed_check CHECK (status <> 'FAILED' OR failure_reason IS NOT NULL)
);

CREATE INDEX ingest_files_batch_id_idx ON ingest_files (batch_id, id);
CREATE INDEX ingest_files_uploaded_by_id_idx ON ingest_files (uploaded_by_id, id);

-- Nothing leaves STORED or FAILED, whoever writes the row.
-- +goose StatementBegin
CREATE FUNCTION ingest_files_terminal_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('STORED', 'FAILED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'ingest_files: a STORED or FAILED file cannot change status'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER ingest_files_terminal_status
    BEFORE UPDATE OF status ON ingest_files
    FOR EACH ROW EXECUTE FUNCTION ingest_files_terminal_status();

CREATE TABLE upload_sessions (
    id                   uuid        PRIMARY KEY,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    file_id              uuid        NOT NULL UNIQUE REFERENCES ingest_files (id),
    status               text        NOT NULL DEFAULT 'INIT'
                         CHECK (status IN ('INIT', 'IN_PROGRESS', 'COMPLETE', 'FAILED', 'ABORTED')),
    chunk_size_bytes     bigint      NOT NULL CHECK (chunk_size_bytes > 0),
    total_parts          integer     NOT NULL CHECK (total_parts BETWEEN 0 AND 10000),
    received_parts_count integer     NOT NULL DEFAULT 0,
    idempotency_key      text        CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    uploaded_by_id       uuid        NOT NULL REFERENCES users (id),
    expires_at           timestamptz NOT NULL,
    declared_sha256      text        CHECK (declared_sha256 ~ '^[0-9a-f]{64}$'),
    hash_state           bytea,
    hashed_parts         integer     NOT NULL DEFAULT 0,
    storage_upload_id    text,
    completed_at         timestamptz,
    CONSTRAINT upload_sessions_parts_check CHECK (received_parts_count BETWEEN 0 AND total_parts),
    CONSTRAINT upload_sessions_hashed_parts_check CHECK (hashed_parts BETWEEN 0 AND received_parts_count),
    CONSTRAINT upload_sessions_complete_check CHECK (
        status <> 'COMPLETE' OR (completed_at IS NOT NULL AND received_parts_count = total_parts)
    ),
    CONSTRAINT upload_sessions_idempotency_key_unique UNIQUE (uploaded_by_id, idempotency_key)
);

CREATE INDEX upload_sessions_active_expires_at_idx ON upload_sessions (expires_at)
    WHERE status IN ('INIT', 'IN_PROGRESS');

CREATE TABLE upload_parts (
    id          uuid        PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    session_id  uuid        NOT NULL REFERENCES upload_sessions (id),
    part_number integer     NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    status      text        NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RECEIVED', 'FAILED')),
    temp_key    text        NOT NULL,
    size_bytes  bigint      NOT NULL CHECK (size_bytes >= 0),
    crc32c      bigint      CHECK (crc32c BETWEEN 0 AND 4294967295),
    sha256      text        CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT upload_parts_received_check CHECK (status <> 'RECEIVED' OR crc32c IS NOT NULL),
    CONSTRAINT upload_parts_session_part_unique UNIQUE (session_id, part_number)
);

CREATE TABLE portal_event_outbox (
    id              uuid        PRIMARY KEY,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    event_type      text        NOT NULL,
    event_id        uuid        NOT NULL UNIQUE,
    idempotency_key text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')),
    next_attempt_at timestamptz NOT NULL,
    attempt_count   integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    file_id         uuid        NOT NULL REFERENCES ingest_files (id),
    last_error      text,
    delivered_at    timestamptz,
    CONSTRAINT portal_event_outbox_delivered_check CHECK (status <> 'DELIVERED' OR delivered_at IS NOT NULL),
    CONSTRAINT portal_event_outbox_type_key_unique UNIQUE (event_type, idempotency_key)
);

CREATE INDEX portal_event_outbox_due_idx ON portal_event_outbox (next_attempt_at)
    WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX portal_event_outbox_file_id_idx ON portal_event_outbox (file_id);

-- The outbox guard: an event can only announce a STORED file. Files never leave STORED, so a
-- concurrent transaction cannot invalidate what this sees.
-- +goose StatementBegin
CREATE FUNCTION portal_event_outbox_requires_stored_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ingest_files WHERE id = NEW.file_id AND status = 'STORED') THEN
        RAISE EXCEPTION 'portal_event_outbox: the file is not STORED'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER portal_event_outbox_requires_stored_file
    BEFORE INSERT OR UPDATE OF file_id ON portal_event_outbox
    FOR EACH ROW EXECUTE FUNCTION portal_event_outbox_requires_stored_file();

-- +goose Down
DROP TABLE portal_event_outbox;
DROP FUNCTION portal_event_outbox_requires_stored_file();
DROP TABLE upload_parts;
DROP TABLE upload_sessions;
DROP TABLE ingest_files;
DROP FUNCTION ingest_files_terminal_status();
DROP TABLE api_tokens;
DROP TABLE upload_batches;
DROP TABLE users;
