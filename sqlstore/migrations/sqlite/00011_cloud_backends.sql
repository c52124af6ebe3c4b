-- Storage backends of Google Cloud Storage and Azure Blob Storage (docs/operations.md, --storage):
-- a file stored there names its bucket (a GCS bucket, an Azure container) as an S3 file does.

-- +goose Up
-- SQLite cannot alter a constraint. Widening one leaves every row valid, so instead of rebuilding
-- the table (and its indexes and the references to it) the table's definition is edited in place,
-- as SQLite documents for dropping a CHECK; the view created and dropped after it changes the
-- schema cookie, so every connection reads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
        'CHECK (storage_backend IN (''local'', ''s3''))',
        'CHECK (storage_backend IN (''local'', ''s3'', ''gcs'', ''azure''))'),
        'AND (storage_backend <> ''s3'' OR',
        'AND (storage_backend NOT IN (''s3'', ''gcs'', ''azure'') OR')
    WHERE type = 'table' AND name = 'ingest_files';
PRAGMA writable_schema = RESET;
CREATE VIEW ingest_schema_changed AS SELECT 1;
DROP VIEW ingest_schema_changed;

-- +goose Down
-- Refused while a file is stored in GCS or Azure, as on PostgreSQL: the narrower constraint would
-- not be checked against the rows already there, so this statement, which breaks the status CHECK
-- for every such row and changes nothing when there is none, fails the rollback first.
UPDATE ingest_files SET status = 'CLOUD_BACKEND_IN_USE' WHERE storage_backend IN ('gcs', 'azure');
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
        'CHECK (storage_backend IN (''local'', ''s3'', ''gcs'', ''azure''))',
        'CHECK (storage_backend IN (''local'', ''s3''))'),
        'AND (storage_backend NOT IN (''s3'', ''gcs'', ''azure'') OR',
        'AND (storage_backend <> ''s3'' OR')
    WHERE type = 'table' AND name = 'ingest_files';
PRAGMA writable_schema = RESET;
CREATE VIEW ingest_schema_changed AS SELECT 1;
DROP VIEW ingest_schema_changed;
