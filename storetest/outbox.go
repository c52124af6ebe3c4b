package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// storedEvent stores a file and returns its file.stored event.
func (f *fixture) storedEvent(u *ingest.User) (*ingest.File, *ingest.OutboxEvent) {
	f.t.Helper()
	file := f.store(u, nil, 5)
	return file, f.eventOf(file)
}

// eventOf returns the file.stored event of a file.
func (f *fixture) eventOf(file *ingest.File) *ingest.OutboxEvent {
	f.t.Helper()
	var id uuid.UUID
	err := f.DB.QueryRowContext(f.ctx, `SELECT id FROM portal_event_outbox WHERE file_id = $1 AND event_type = $2`,
		file.ID, ingest.EventFileStored).Scan(&id)
	if err != nil {
		f.t.Fatalf("find the file's event: %v", err)
	}
	return f.getEvent(id)
}

func (f *fixture) claimOne(lease time.Duration) *ingest.OutboxEvent {
	f.t.Helper()
	events, err := f.Store.ClaimEvents(f.ctx, 10, lease)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(events) != 1 {
		f.t.Fatalf("claimed %d events, want 1", len(events))
	}
	return events[0]
}

func testOutbox(t *testing.T, open Opener) {
	t.Run("storing a file writes its file.stored event", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file := f.store(u, b, 9)
		e := f.eventOf(file)
		if n := f.count(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1`, file.ID); n != 1 {
			t.Errorf("events of the file = %d, want 1", n)
		}
		if e.EventType != ingest.EventFileStored || e.IdempotencyKey != file.ID.String() || e.Status != ingest.OutboxPending ||
			e.AttemptCount != 0 || !e.NextAttemptAt.Equal(f.Clock.Now()) || e.EventID.Version() != 7 || e.FileID != file.ID {
			t.Errorf("event = %+v", e)
		}
		var data ingest.FileStoredData
		if err := json.Unmarshal(e.Payload, &data); err != nil {
			t.Fatal(err)
		}
		want := ingest.FileStoredData{
			FileID: file.ID, BatchID: &b.ID, SHA256: file.SHA256, SizeBytes: 9, ContentType: "text/csv",
			OriginalFilename: "report.csv", StorageBackend: ingest.StorageLocal, StorageKey: file.StorageKey,
			UploadedByID: u.ID, StoredAt: *file.StoredAt,
		}
		if data.FileID != want.FileID || *data.BatchID != *want.BatchID || data.SHA256 != want.SHA256 ||
			data.SizeBytes != want.SizeBytes || data.StorageKey != want.StorageKey || data.UploadedByID != want.UploadedByID ||
			!data.StoredAt.Equal(want.StoredAt) || data.OriginalFilename != want.OriginalFilename || data.StorageBackend != want.StorageBackend {
			t.Errorf("payload = %+v, want %+v", data, want)
		}
	})

	t.Run("the outbox guard holds through the store", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		uploading, _ := f.upload(u, nil, 5, 4)
		failed, failedSess := f.upload(u, nil, 5, 4)
		if _, err := f.Store.EndUpload(f.ctx, failedSess.ID, ingest.SessionFailed, ingest.ESessionExpired, "expired"); err != nil {
			t.Fatal(err)
		}
		for _, file := range []*ingest.File{uploading, failed} {
			e := &ingest.OutboxEvent{EventType: ingest.EventFileStored, IdempotencyKey: file.ID.String(), Payload: json.RawMessage(`{}`), FileID: file.ID}
			wantCode(t, f.Store.EnqueueEvent(f.ctx, e), ingest.EValidation)
		}
		stored, _ := f.storedEvent(u)
		again := &ingest.OutboxEvent{EventType: ingest.EventFileStored, IdempotencyKey: stored.ID.String(), Payload: json.RawMessage(`{}`), FileID: stored.ID}
		wantCode(t, f.Store.EnqueueEvent(f.ctx, again), ingest.EConflict)
		other := &ingest.OutboxEvent{EventType: "file.reannounced", IdempotencyKey: stored.ID.String(), Payload: json.RawMessage(`{"n":1}`), FileID: stored.ID}
		if err := f.Store.EnqueueEvent(f.ctx, other); err != nil {
			t.Errorf("another event type for a STORED file: %v", err)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox`); n != 2 {
			t.Errorf("events = %d, want 2", n)
		}
	})

	t.Run("a claim leases due events and counts the attempt", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		_, e := f.storedEvent(u)
		claimed := f.claimOne(30 * time.Second)
		if claimed.ID != e.ID || claimed.Status != ingest.OutboxSending || claimed.AttemptCount != 1 ||
			!claimed.NextAttemptAt.Equal(f.Clock.Now().Add(30*time.Second)) {
			t.Errorf("claimed = %+v", claimed)
		}
		if events, err := f.Store.ClaimEvents(f.ctx, 10, time.Minute); err != nil || len(events) != 0 {
			t.Errorf("a leased event was claimed again: %d, %v", len(events), err)
		}
		f.Clock.Advance(31 * time.Second)
		reclaimed := f.claimOne(30 * time.Second)
		if reclaimed.ID != e.ID || reclaimed.AttemptCount != 2 {
			t.Errorf("after the lease, claimed %s attempt %d; want %s attempt 2", reclaimed.ID, reclaimed.AttemptCount, e.ID)
		}
		wantCode(t, f.Store.MarkDelivered(f.ctx, e.ID, 1), ingest.EConflict)
		if got := f.getEvent(e.ID); got.Status != ingest.OutboxSending || got.AttemptCount != 2 {
			t.Errorf("a stale mark changed the event: %+v", got)
		}
		if err := f.Store.MarkDelivered(f.ctx, e.ID, 2); err != nil {
			t.Fatal(err)
		}
		got := f.getEvent(e.ID)
		if got.Status != ingest.OutboxDelivered || got.DeliveredAt == nil || !got.DeliveredAt.Equal(f.Clock.Now()) {
			t.Errorf("delivered event = %+v", got)
		}
	})

	t.Run("events not yet due are not claimed, and a claim takes at most its limit", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		for range 3 {
			f.storedEvent(u)
		}
		events, err := f.Store.ClaimEvents(f.ctx, 2, time.Minute)
		if err != nil || len(events) != 2 {
			t.Fatalf("claimed %d, %v; want 2", len(events), err)
		}
		if err := f.Store.MarkRetry(f.ctx, events[0].ID, 1, f.Clock.Now().Add(5*time.Second), "503 from sink"); err != nil {
			t.Fatal(err)
		}
		retried := f.getEvent(events[0].ID)
		if retried.Status != ingest.OutboxPending || retried.LastError != "503 from sink" || !retried.NextAttemptAt.Equal(f.Clock.Now().Add(5*time.Second)) {
			t.Errorf("retried event = %+v", retried)
		}
		rest, err := f.Store.ClaimEvents(f.ctx, 10, time.Minute)
		if err != nil || len(rest) != 1 {
			t.Fatalf("claimed %d, %v; want only the third event", len(rest), err)
		}
		f.Clock.Advance(5 * time.Second)
		again := f.claimOne(time.Second)
		if again.ID != events[0].ID || again.AttemptCount != 2 {
			t.Errorf("due again: claimed %s attempt %d", again.ID, again.AttemptCount)
		}
	})

	t.Run("a failed event waits for a manual retry", func(t *testing.T) {
		f := newFixture(t, open)
		_, e := f.storedEvent(f.user(false))
		claimed := f.claimOne(time.Minute)
		if err := f.Store.MarkFailed(f.ctx, e.ID, claimed.AttemptCount, "410 Gone"); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(48 * time.Hour)
		if events, _ := f.Store.ClaimEvents(f.ctx, 10, time.Minute); len(events) != 0 {
			t.Errorf("a FAILED event was claimed")
		}
		if err := f.Store.RetryEvent(f.ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		got := f.getEvent(e.ID)
		if got.Status != ingest.OutboxPending || got.LastError != "410 Gone" || !got.NextAttemptAt.Equal(f.Clock.Now()) || got.AttemptCount != 1 {
			t.Errorf("retried event = %+v", got)
		}
		if again := f.claimOne(time.Minute); again.AttemptCount != 2 {
			t.Errorf("attempt after a manual retry = %d, want 2 (attempts only grow: they fence)", again.AttemptCount)
		}
		wantCode(t, f.Store.RetryEvent(f.ctx, uuid.New()), ingest.ENotFound)
		wantCode(t, f.Store.MarkDelivered(f.ctx, uuid.New(), 1), ingest.ENotFound)
	})
}
