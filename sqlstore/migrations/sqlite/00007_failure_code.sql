-- Failure codes (docs/models.md): why a file FAILED, as a code beside the reason written for
-- people, so that nothing reads a code back out of the reason's text. A FAILED file has a code
-- and no other file has one.

-- +goose Up
-- SQLite tests an added column's CHECK against the rows already there, where the column is still
-- NULL, and cannot add a table constraint later: the checks are off for this one statement, and
-- the backfill below runs with them on again, so every FAILED row must get a code.
PRAGMA ignore_check_constraints = ON;
ALTER TABLE ingest_files ADD COLUMN failure_code TEXT
    CONSTRAINT ingest_files_failure_code_check
    CHECK (failure_code IN ('CHECKSUM_MISMATCH', 'SESSION_EXPIRED', 'SESSION_NOT_ACTIVE', 'ABORTED', 'BATCH_CANCELLED'))
    CONSTRAINT ingest_files_failed_code_check CHECK ((status = 'FAILED') = (failure_code IS NOT NULL));
PRAGMA ignore_check_constraints = OFF;
-- The reasons the portal has written, read once here; any other is answered as an upload that is
-- no longer active, as it was before codes were stored.
UPDATE ingest_files SET failure_code = CASE
    WHEN failure_reason = 'expired' THEN 'SESSION_EXPIRED'
    WHEN substr(failure_reason, 1, 17) = 'checksum mismatch' THEN 'CHECKSUM_MISMATCH'
    WHEN failure_reason = 'batch cancelled' THEN 'BATCH_CANCELLED'
    WHEN (SELECT status FROM upload_sessions WHERE file_id = ingest_files.id) = 'ABORTED' THEN 'ABORTED'
    ELSE 'SESSION_NOT_ACTIVE'
END
WHERE status = 'FAILED';

-- +goose Down
ALTER TABLE ingest_files DROP COLUMN failure_code;
