package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

const batchColumns = `id, created_at, updated_at, status, name, created_by_id, total_files,
	stored_count, failed_count, sealed_at`

func scanBatch(row interface{ Scan(...any) error }) (*ingest.Batch, error) {
	var b ingest.Batch
	err := row.Scan(&b.ID, timeCol{&b.CreatedAt}, timeCol{&b.UpdatedAt}, &b.Status, &b.Name, &b.CreatedByID,
		&b.TotalFiles, &b.StoredCount, &b.FailedCount, nullTimeCol{&b.SealedAt})
	return &b, err
}

// CreateBatch implements ingest.BatchStore.
func (s *Store) CreateBatch(ctx context.Context, b *ingest.Batch) error {
	if len(b.Name) > ingest.MaxBatchNameLength {
		return ingest.Errorf(ingest.EValidation, "a batch name has at most %d bytes", ingest.MaxBatchNameLength)
	}
	if b.ID == uuid.Nil {
		b.ID = ingest.NewID()
	}
	now := s.clock()
	b.CreatedAt, b.UpdatedAt = now, now
	b.Status, b.TotalFiles, b.StoredCount, b.FailedCount, b.SealedAt = ingest.BatchOpen, 0, 0, 0, nil
	_, err := s.exec(ctx, `
		INSERT INTO upload_batches (id, created_at, updated_at, status, name, created_by_id)
		VALUES ($1, $2, $2, $3, $4, $5)`,
		b.ID, at(now), b.Status, b.Name, b.CreatedByID)
	if violation(err) == foreignKeyViolation {
		return ingest.Errorf(ingest.ENotFound, "user %s not found", b.CreatedByID)
	}
	return s.translate(err)
}

// Batch implements ingest.BatchStore.
func (s *Store) Batch(ctx context.Context, id uuid.UUID) (*ingest.Batch, error) {
	b, err := scanBatch(s.q().QueryRowContext(ctx, `SELECT `+batchColumns+` FROM upload_batches WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "upload batch", id)
	}
	return b, nil
}

// SealBatch implements ingest.BatchStore.
func (s *Store) SealBatch(ctx context.Context, id uuid.UUID) (*ingest.Batch, error) {
	var b *ingest.Batch
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		b, err = s.moveBatch(ctx, tx, id, ingest.BatchSealed, `, sealed_at = $3`)
		if err != nil {
			return err
		}
		return s.concludeBatch(ctx, tx, b)
	})
	return b, err
}

// CancelBatch implements ingest.BatchStore.
func (s *Store) CancelBatch(ctx context.Context, id uuid.UUID) (*ingest.Batch, []*ingest.UploadSession, error) {
	var b *ingest.Batch
	var aborted []*ingest.UploadSession
	err := s.inTx(ctx, func(tx *txn) error {
		// The batch row is locked first, as in every transaction that touches a batch and its
		// files, so that the lock order is always batch → session → file and no two transactions
		// can deadlock.
		var err error
		b, err = s.moveBatch(ctx, tx, id, ingest.BatchCancelled, ``)
		if err != nil {
			return err
		}
		now := at(s.clock())
		rows, err := tx.QueryContext(ctx, `
			UPDATE upload_sessions SET status = 'ABORTED', updated_at = $1
			WHERE status IN ('INIT', 'IN_PROGRESS')
			  AND file_id IN (SELECT id FROM ingest_files WHERE batch_id = $2)
			RETURNING `+sessionColumns, now, id)
		if err != nil {
			return s.translate(err)
		}
		if aborted, err = scanRows(rows, scanSession); err != nil {
			return s.translate(err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE ingest_files SET status = 'FAILED', failure_code = 'BATCH_CANCELLED',
			                        failure_reason = 'batch cancelled', updated_at = $1
			WHERE batch_id = $2 AND status = 'UPLOADING'`, now, id)
		if err != nil {
			return s.translate(err)
		}
		failed, err := res.RowsAffected()
		if err != nil {
			return err
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `
			UPDATE upload_batches SET failed_count = failed_count + $1 WHERE id = $2
			RETURNING `+batchColumns, failed, id))
		return s.translate(err)
	})
	return b, aborted, err
}

// moveBatch is the compare-and-set of the batch state machine: it moves the batch to `to` from any
// state allowed to reach it. In set, extra assignments may use $3, the current time.
func (s *Store) moveBatch(ctx context.Context, tx *txn, id uuid.UUID, to ingest.BatchStatus, set string) (*ingest.Batch, error) {
	b, err := scanBatch(tx.QueryRowContext(ctx, `
		UPDATE upload_batches SET status = $1, updated_at = $3`+set+`
		WHERE id = $2 AND status IN (`+statusList(ingest.BatchSources(to))+`)
		RETURNING `+batchColumns, to, id, at(s.clock())))
	if errors.Is(err, sql.ErrNoRows) {
		current, err := s.currentStatus(ctx, tx, "upload_batches", "upload batch", id)
		if err != nil {
			return nil, err
		}
		return nil, refused(ingest.CheckBatchTransition(id, ingest.BatchStatus(current), to))
	}
	return b, s.translate(err)
}

// lockBatch locks the row of the file's batch, if it has one. Every transaction that changes a
// batch's files takes this lock before it touches their sessions, so the lock order is always
// batch → session → file, no two transactions can deadlock, and a file's outcome is counted only
// by the one transaction that wins its session's compare-and-set.
func (s *Store) lockBatch(ctx context.Context, tx *txn, batchID *uuid.UUID) error {
	if batchID == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE upload_batches SET updated_at = $1 WHERE id = $2`, at(s.clock()), *batchID)
	return s.translate(err)
}

// countInBatch counts a file that has ended, stored or not, in its batch (locked by lockBatch) and
// concludes the batch if that settled it.
func (s *Store) countInBatch(ctx context.Context, tx *txn, batchID *uuid.UUID, stored bool) error {
	if batchID == nil {
		return nil
	}
	counter := "failed_count"
	if stored {
		counter = "stored_count"
	}
	b, err := scanBatch(tx.QueryRowContext(ctx, `
		UPDATE upload_batches SET `+counter+` = `+counter+` + 1, updated_at = $1 WHERE id = $2
		RETURNING `+batchColumns, at(s.clock()), *batchID))
	if err != nil {
		return s.notFound(err, "upload batch", *batchID)
	}
	return s.concludeBatch(ctx, tx, b)
}

// concludeBatch moves a sealed batch whose files have all ended to its outcome.
func (s *Store) concludeBatch(ctx context.Context, tx *txn, b *ingest.Batch) error {
	if b == nil || b.Status != ingest.BatchSealed || !b.Settled() {
		return nil
	}
	to, now := b.Outcome(), s.clock()
	_, err := tx.ExecContext(ctx, `UPDATE upload_batches SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'SEALED'`,
		to, at(now), b.ID)
	if err != nil {
		return s.translate(err)
	}
	b.Status, b.UpdatedAt = to, now
	return nil
}
