-- Storage backends of Google Cloud Storage and Azure Blob Storage (docs/operations.md, --storage):
-- a file stored there names its bucket (a GCS bucket, an Azure container) as an S3 file does.

-- +goose Up
ALTER TABLE ingest_files DROP CONSTRAINT ingest_files_storage_backend_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_storage_backend_check
    CHECK (storage_backend IN ('local', 's3', 'gcs', 'azure'));
ALTER TABLE ingest_files DROP CONSTRAINT ingest_files_stored_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_stored_check CHECK (
    status <> 'STORED' OR (
        sha256 IS NOT NULL AND size_bytes IS NOT NULL AND storage_backend IS NOT NULL
        AND storage_key IS NOT NULL AND storage_key <> '' AND stored_at IS NOT NULL
        AND (storage_backend NOT IN ('s3', 'gcs', 'azure') OR (storage_bucket IS NOT NULL AND storage_bucket <> ''))
    )
);

-- +goose Down
-- Refused, by the constraint put back, while a file is stored in GCS or Azure.
ALTER TABLE ingest_files DROP CONSTRAINT ingest_files_stored_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_stored_check CHECK (
    status <> 'STORED' OR (
        sha256 IS NOT NULL AND size_bytes IS NOT NULL AND storage_backend IS NOT NULL
        AND storage_key IS NOT NULL AND storage_key <> '' AND stored_at IS NOT NULL
        AND (storage_backend <> 's3' OR (storage_bucket IS NOT NULL AND storage_bucket <> ''))
    )
);
ALTER TABLE ingest_files DROP CONSTRAINT ingest_files_storage_backend_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_storage_backend_check
    CHECK (storage_backend IN ('local', 's3'));
