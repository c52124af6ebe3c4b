-- File metadata (DESIGN.md §8, docs/models.md): what the client said about a file, a JSON object
-- of string to string. The service enforces its limits (ingest.ValidateMetadata); the database
-- keeps it an object.

-- +goose Up
ALTER TABLE ingest_files ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(metadata) AND json_type(metadata) = 'object');

-- +goose Down
ALTER TABLE ingest_files DROP COLUMN metadata;
