-- The admin console (docs/admin.md): passwords for signing in, server-side sessions, and the
-- indexes its list pages need to stay fast at a million rows (docs/models.md says which and why).

-- +goose Up
-- A PHC-style Argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash), set by "ingest user
-- set-password"; NULL when the user has no password and signs in with an API token only.
ALTER TABLE users ADD COLUMN password_hash TEXT CHECK (password_hash LIKE '$argon2id$%');

-- A signed-in console session. The cookie holds a random secret; only its SHA-256 is stored, so
-- a copy of the database does not sign anyone in.
CREATE TABLE admin_sessions (
    id          TEXT NOT NULL PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    secret_hash TEXT NOT NULL UNIQUE CHECK (length(secret_hash) = 64 AND secret_hash NOT GLOB '*[^0-9a-f]*'),
    csrf_token  TEXT NOT NULL CHECK (length(csrf_token) >= 32),
    expires_at  TEXT NOT NULL
) STRICT;

CREATE INDEX admin_sessions_user_id_idx ON admin_sessions (user_id);
CREATE INDEX admin_sessions_expires_at_idx ON admin_sessions (expires_at);

-- Keyset pages filtered by status, and capped counts by status.
CREATE INDEX upload_batches_status_idx ON upload_batches (status, id);
CREATE INDEX ingest_files_status_idx ON ingest_files (status, id);
CREATE INDEX upload_sessions_status_idx ON upload_sessions (status, id);
CREATE INDEX portal_event_outbox_status_idx ON portal_event_outbox (status, id);
-- Files sorted by size, keyset on (size_bytes, id).
CREATE INDEX ingest_files_size_bytes_idx ON ingest_files (size_bytes, id);
-- Search by SHA-256 prefix, and the dashboard's last 24 hours of stored files. Both columns are
-- set once, when the file is stored.
CREATE INDEX ingest_files_sha256_idx ON ingest_files (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX ingest_files_stored_at_idx ON ingest_files (stored_at) WHERE stored_at IS NOT NULL;

-- +goose Down
DROP INDEX ingest_files_stored_at_idx;
DROP INDEX ingest_files_sha256_idx;
DROP INDEX ingest_files_size_bytes_idx;
DROP INDEX portal_event_outbox_status_idx;
DROP INDEX upload_sessions_status_idx;
DROP INDEX ingest_files_status_idx;
DROP INDEX upload_batches_status_idx;
DROP TABLE admin_sessions;
ALTER TABLE users DROP COLUMN password_hash;
