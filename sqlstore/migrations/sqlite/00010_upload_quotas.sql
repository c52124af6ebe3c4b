-- Per-user upload quotas (docs/operations.md): a user's active sessions are counted at every
-- creation, and a single-request upload holds a reservation while its body streams in.

-- +goose Up
CREATE INDEX upload_sessions_active_uploader_idx ON upload_sessions (uploaded_by_id)
    WHERE status IN ('INIT', 'IN_PROGRESS');

CREATE TABLE upload_reservations (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    expires_at TEXT    NOT NULL
) STRICT;

CREATE INDEX upload_reservations_user_idx ON upload_reservations (user_id, expires_at);

-- +goose Down
DROP TABLE upload_reservations;
DROP INDEX upload_sessions_active_uploader_idx;
