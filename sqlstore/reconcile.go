package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var _ ingest.ReconcileStore = (*Store)(nil)

// ObjectsInUse implements ingest.ReconcileStore.
func (s *Store) ObjectsInUse(ctx context.Context, objects map[string]uuid.UUID) (map[string]bool, error) {
	if len(objects) > ingest.MaxPageLimit {
		return nil, ingest.Errorf(ingest.EValidation, "at most %d objects at once", ingest.MaxPageLimit)
	}
	ids := make([]uuid.UUID, 0, len(objects))
	for _, id := range objects {
		ids = append(ids, id)
	}
	type file struct {
		status ingest.FileStatus
		key    string
	}
	files := map[uuid.UUID]file{}
	err := s.queryIDs(ctx, `SELECT id, status, storage_key FROM ingest_files WHERE id IN (%s)`, ids, func(rows *sql.Rows) error {
		var id uuid.UUID
		var f file
		if err := rows.Scan(&id, &f.status, textCol[string]{&f.key}); err != nil {
			return err
		}
		files[id] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	inUse := map[string]bool{}
	for key, id := range objects {
		f, ok := files[id]
		if ok && (f.status == ingest.FileUploading || (f.status == ingest.FileStored && f.key == key)) {
			inUse[key] = true
		}
	}
	return inUse, nil
}

// ActiveUploads implements ingest.ReconcileStore.
func (s *Store) ActiveUploads(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	if len(ids) > ingest.MaxPageLimit {
		return nil, ingest.Errorf(ingest.EValidation, "at most %d ids at once", ingest.MaxPageLimit)
	}
	asked := map[uuid.UUID]bool{}
	for _, id := range ids {
		asked[id] = true
	}
	active := map[uuid.UUID]bool{}
	err := s.queryIDs(ctx, `SELECT id, file_id FROM upload_sessions
		WHERE status IN ('INIT', 'IN_PROGRESS') AND (id IN (%[1]s) OR file_id IN (%[1]s))`, ids, func(rows *sql.Rows) error {
		var id, fileID uuid.UUID
		if err := rows.Scan(&id, &fileID); err != nil {
			return err
		}
		for _, x := range []uuid.UUID{id, fileID} {
			if asked[x] {
				active[x] = true
			}
		}
		return nil
	})
	return active, err
}

// queryIDs runs query, whose %s (each of them) becomes the list of ids' parameters, and calls scan
// for each row. No ids read no rows.
func (s *Store) queryIDs(ctx context.Context, query string, ids []uuid.UUID, scan func(*sql.Rows) error) error {
	if len(ids) == 0 {
		return nil
	}
	params := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		params[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	rows, err := s.q().QueryContext(ctx, fmt.Sprintf(query, strings.Join(params, ", ")), args...)
	if err != nil {
		return s.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.translate(err)
		}
	}
	return s.translate(rows.Err())
}
