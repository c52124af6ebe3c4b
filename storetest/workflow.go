package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func testWorkflow(t *testing.T, open Opener) {
	t.Run("batch, file, session, parts, stored, event", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := f.upload(u, b, 10, 4)

		// Parts arrive out of order; the hash is folded in as the prefix grows.
		f.receive(sess, 2, 4)
		f.receive(sess, 1, 4)
		if err := f.Store.AdvanceHash(f.ctx, sess.ID, 0, 2, []byte("state after 2 parts")); err != nil {
			t.Fatal(err)
		}
		f.receive(sess, 3, 2)
		if err := f.Store.AdvanceHash(f.ctx, sess.ID, 2, 3, []byte("state after 3 parts")); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Second)
		obj := object(10)
		stored, err := f.Store.StoreFile(f.ctx, sess.ID, obj)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := f.Store.SealBatch(f.ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}

		if stored.ID != file.ID || stored.Status != ingest.FileStored || *stored.BatchID != b.ID || stored.UploadedByID != u.ID ||
			stored.SHA256 != obj.SHA256 || stored.StorageKey != obj.Key {
			t.Errorf("file = %+v", stored)
		}
		s := f.getSession(sess.ID)
		if s.FileID != file.ID || s.Status != ingest.SessionComplete || s.ReceivedPartsCount != 3 || s.HashedParts != 3 || s.UploadedByID != u.ID {
			t.Errorf("session = %+v", s)
		}
		parts, err := f.Store.Parts(f.ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for i, p := range parts {
			if p.SessionID != sess.ID || p.PartNumber != i+1 || p.Status != ingest.PartReceived || p.CRC32C == nil {
				t.Errorf("part %d = %+v", i+1, p)
			}
			total += p.SizeBytes
		}
		if len(parts) != 3 || total != 10 {
			t.Errorf("%d parts of %d bytes, want 3 of 10", len(parts), total)
		}
		e := f.eventOf(stored)
		var data ingest.FileStoredData
		if err := json.Unmarshal(e.Payload, &data); err != nil || data.FileID != file.ID || *data.BatchID != b.ID {
			t.Errorf("event payload = %s, %v", e.Payload, err)
		}
		if e.FileID != file.ID || e.Status != ingest.OutboxPending {
			t.Errorf("event = %+v", e)
		}
		if sealed.Status != ingest.BatchComplete || sealed.TotalFiles != 1 || sealed.StoredCount != 1 || sealed.FailedCount != 0 {
			t.Errorf("batch = %+v", sealed)
		}
	})

	t.Run("completing again is refused and changes nothing", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file := f.store(u, b, 6)
		sessID := f.sessionOf(file)
		_, err := f.Store.StoreFile(f.ctx, sessID, object(6))
		wantTransitionError(t, err, "COMPLETE", ingest.ESessionNotActive)
		if got := f.getBatch(b.ID); got.StoredCount != 1 {
			t.Errorf("stored_count = %d after a second completion, want 1", got.StoredCount)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1`, file.ID); n != 1 {
			t.Errorf("events = %d after a second completion, want 1", n)
		}
	})
}

func (f *fixture) sessionOf(file *ingest.File) uuid.UUID {
	f.t.Helper()
	var id uuid.UUID
	if err := f.DB.QueryRowContext(f.ctx, `SELECT id FROM upload_sessions WHERE file_id = $1`, file.ID).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}
