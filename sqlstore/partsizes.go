package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var _ ingest.PartSizeStore = (*Store)(nil)

// FixPartSize implements ingest.PartSizeStore: the first insert wins, the others read it.
func (s *Store) FixPartSize(ctx context.Context, sessionID uuid.UUID, size int64) (int64, error) {
	if size <= 0 {
		return 0, ingest.Errorf(ingest.EValidation, "a part size is positive")
	}
	_, err := s.exec(ctx, `INSERT INTO uppy_part_sizes (session_id, part_size_bytes) VALUES ($1, $2)
		ON CONFLICT (session_id) DO NOTHING`, sessionID, size)
	if violation(err) == foreignKeyViolation {
		return 0, ingest.Errorf(ingest.ENotFound, "upload session %s not found", sessionID)
	}
	if err != nil {
		return 0, s.translate(err)
	}
	return s.PartSize(ctx, sessionID)
}

// PartSize implements ingest.PartSizeStore.
func (s *Store) PartSize(ctx context.Context, sessionID uuid.UUID) (int64, error) {
	var size int64
	err := s.q().QueryRowContext(ctx, `SELECT part_size_bytes FROM uppy_part_sizes WHERE session_id = $1`, sessionID).Scan(&size)
	if err != nil {
		return 0, s.notFound(err, "part size of upload session", sessionID)
	}
	return size, nil
}
