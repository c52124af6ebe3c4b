package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// checkQuota refuses, with EQuotaExceeded, a session or reservation of size bytes more for the
// user when q does not allow it; adding is false when the session is counted already (a deferred
// length being declared, except its own bytes, which the caller leaves out). It first takes the
// user's row lock (a write to the row), so that on PostgreSQL the transactions of racing creators
// of one user, on any instance, count one after the other, each seeing what the one before it
// committed; SQLite has one writer at a time anyway.
func (s *Store) checkQuota(ctx context.Context, tx *txn, userID, except uuid.UUID, size int64, q ingest.UploadQuota, adding bool) error {
	if !q.Limited() {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET updated_at = updated_at WHERE id = $1`, userID)
	if err != nil {
		return s.translate(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ingest.Errorf(ingest.ENotFound, "user %s not found", userID)
	}
	var sessions, reserved int
	var bytes, reservedBytes int64
	err = tx.QueryRowContext(ctx, `
		SELECT count(*), COALESCE(sum(CASE WHEN f.size_bytes > s.offset_bytes THEN f.size_bytes ELSE s.offset_bytes END), 0)
		FROM upload_sessions s JOIN ingest_files f ON f.id = s.file_id
		WHERE s.uploaded_by_id = $1 AND s.status IN ('INIT', 'IN_PROGRESS') AND s.id <> $2`, userID, except).Scan(&sessions, &bytes)
	if err != nil {
		return s.translate(err)
	}
	err = tx.QueryRowContext(ctx, `
		SELECT count(*), COALESCE(sum(size_bytes), 0) FROM upload_reservations WHERE user_id = $1 AND expires_at > $2`,
		userID, at(s.clock())).Scan(&reserved, &reservedBytes)
	if err != nil {
		return s.translate(err)
	}
	return q.Check(sessions+reserved, bytes+reservedBytes, size, adding)
}

// ReserveUpload implements ingest.UploadStore.
func (s *Store) ReserveUpload(ctx context.Context, userID uuid.UUID, size int64, until time.Time, q ingest.UploadQuota) (uuid.UUID, error) {
	if size < 0 {
		return uuid.Nil, ingest.Errorf(ingest.EValidation, "a reservation of %d bytes", size)
	}
	id := ingest.NewID()
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.checkQuota(ctx, tx, userID, uuid.Nil, size, q, true); err != nil {
			return err
		}
		now := s.clock()
		// Reservations that outlived their process are removed by the next reservation of their user.
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_reservations WHERE user_id = $1 AND expires_at <= $2`, userID, at(now)); err != nil {
			return s.translate(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_reservations (id, user_id, size_bytes, expires_at) VALUES ($1, $2, $3, $4)`,
			id, userID, size, at(ingest.Timestamp(until)))
		if violation(err) == foreignKeyViolation {
			return ingest.Errorf(ingest.ENotFound, "user %s not found", userID)
		}
		return s.translate(err)
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// ReleaseReservation implements ingest.UploadStore.
func (s *Store) ReleaseReservation(ctx context.Context, id uuid.UUID) error {
	_, err := s.exec(ctx, `DELETE FROM upload_reservations WHERE id = $1`, id)
	return s.translate(err)
}
