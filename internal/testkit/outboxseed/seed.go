// Package outboxseed fills a portal database with stored files and their pending file.stored
// events, for the relay's tests and benchmarks: through the store, as uploads would, or in bulk
// with raw SQL when tens of thousands are needed.
package outboxseed

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// emptySHA256 is the hash of the empty file every seeded file is.
var emptySHA256 = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// Owner creates the user who uploads the seeded files.
func Owner(ctx context.Context, s ingest.UserStore) (*ingest.User, error) {
	u := &ingest.User{Username: "seed-" + ingest.NewID().String()[24:]}
	return u, s.CreateUser(ctx, u)
}

// Store records one empty file as uploaded in a single request by owner, which writes its
// file.stored event, and returns the file.
func Store(ctx context.Context, s ingest.UploadStore, owner *ingest.User, now time.Time) (*ingest.File, error) {
	f := &ingest.File{ID: ingest.NewID(), OriginalFilename: "seed.bin", ContentType: "application/octet-stream", UploadedByID: owner.ID}
	sess := &ingest.UploadSession{ID: ingest.NewID(), FileID: f.ID, ChunkSizeBytes: 8 << 20, UploadedByID: owner.ID,
		ExpiresAt: now.Add(time.Hour)}
	obj := ingest.StoredObject{SHA256: emptySHA256, Backend: ingest.StorageLocal, Key: ingest.ObjectKey("seed", f.ID, now)}
	if err := s.RecordStoredUpload(ctx, f, sess, ingest.PartReceipt{}, obj, nil); err != nil {
		return nil, fmt.Errorf("seed a stored file: %w", err)
	}
	return f, nil
}

// bulkRows is how many rows one INSERT of Bulk writes: 500 events of 5 parameters stay far below
// both databases' limits on parameters.
const bulkRows = 500

// Bulk inserts n stored files and their pending file.stored events, due at the time they are
// written, with raw SQL in chunks of one transaction each, and returns their event ids (the ids of
// the CloudEvents). Both
// dialects take the same text: ids as UUID text, times as RFC 3339 text.
func Bulk(ctx context.Context, db *sql.DB, n int) ([]uuid.UUID, error) {
	now := time.Now().UTC()
	stamp := now.Format("2006-01-02T15:04:05.000000Z")
	userID := ingest.NewID()
	if _, err := db.ExecContext(ctx, `INSERT INTO users (id, created_at, updated_at, username) VALUES ($1, $2, $2, $3)`,
		userID.String(), stamp, "bulk-"+userID.String()[24:]); err != nil {
		return nil, fmt.Errorf("seed the owner: %w", err)
	}
	ids := make([]uuid.UUID, 0, n)
	for done := 0; done < n; done += bulkRows {
		rows := min(bulkRows, n-done)
		files, events := make([]any, 0, rows*2), make([]any, 0, rows*5)
		for range rows {
			fileID, eventID := ingest.NewID(), ingest.NewID()
			ids = append(ids, eventID)
			key := ingest.ObjectKey("seed", fileID, now)
			payload := fmt.Sprintf(`{"file_id":%q,"sha256":%q,"size_bytes":0,"storage_backend":"local","storage_key":%q,"uploaded_by_id":%q,"stored_at":%q}`,
				fileID, emptySHA256, key, userID, stamp)
			files = append(files, fileID.String(), key)
			events = append(events, ingest.NewID().String(), eventID.String(), fileID.String(), payload, fileID.String())
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ingest_files (id, created_at, updated_at, status, sha256, size_bytes,
			storage_backend, storage_key, original_filename, uploaded_by_id, stored_at) VALUES `+
			values(rows, 3, 2, func(p []string) string {
				return fmt.Sprintf("(%s, $1, $1, 'STORED', $2, 0, 'local', %s, 'seed.bin', $3, $1)", p[0], p[1])
			}), append([]any{stamp, emptySHA256, userID.String()}, files...)...)
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO portal_event_outbox (id, created_at, updated_at, event_type, event_id,
				idempotency_key, payload, status, next_attempt_at, file_id) VALUES `+
				values(rows, 1, 5, func(p []string) string {
					return fmt.Sprintf("(%s, $1, $1, 'file.stored', %s, %s, %s, 'PENDING', $1, %s)", p[0], p[1], p[2], p[3], p[4])
				}), append([]any{stamp}, events...)...)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("seed events: %w", err)
		}
	}
	// Fresh statistics, as autovacuum would gather soon after such a load, so the planner does
	// not take a large table for an empty one.
	if _, err := db.ExecContext(ctx, `ANALYZE portal_event_outbox`); err != nil {
		return nil, fmt.Errorf("analyze the seeded events: %w", err)
	}
	return ids, nil
}

// values renders rows tuples of per parameters each, numbered after the shared ones, with row.
func values(rows, shared, per int, row func(params []string) string) string {
	tuples := make([]string, rows)
	for i := range tuples {
		p := make([]string, per)
		for j := range p {
			p[j] = fmt.Sprintf("$%d", shared+1+i*per+j)
		}
		tuples[i] = row(p)
	}
	return strings.Join(tuples, ", ")
}
