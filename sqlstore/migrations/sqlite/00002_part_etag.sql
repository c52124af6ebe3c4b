-- The blob store's tag of a part's bytes (S3's ETag), which completing a multipart upload must
-- present; it also tells a part that was overwritten after it was recorded.

-- +goose Up
ALTER TABLE upload_parts ADD COLUMN etag TEXT;

-- +goose Down
ALTER TABLE upload_parts DROP COLUMN etag;
