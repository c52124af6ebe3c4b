-- Part sizes of Uppy's multipart uploads (docs/browser.md): Uppy chooses the size of its parts
-- without telling the portal, so its first part fixes it, once, for every instance.

-- +goose Up
CREATE TABLE uppy_part_sizes (
    session_id      TEXT    NOT NULL PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
    part_size_bytes INTEGER NOT NULL CHECK (part_size_bytes > 0)
) STRICT;

-- +goose Down
DROP TABLE uppy_part_sizes;
