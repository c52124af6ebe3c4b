package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// The transition tests put a row into every state with raw SQL and then try every store operation
// on it. Which operation may start from which state is written out here as literal tables, not
// derived from the domain's state machines, so the two are checked against each other. A refused
// operation must return a *TransitionError naming the state it found, and change nothing.

func testTransitions(t *testing.T, open Opener) {
	t.Run("batch", func(t *testing.T) { testBatchTransitions(t, open) })
	t.Run("session", func(t *testing.T) { testSessionTransitions(t, open) })
	t.Run("file", func(t *testing.T) { testFileTransitions(t, open) })
	t.Run("part", func(t *testing.T) { testPartTransitions(t, open) })
	t.Run("outbox", func(t *testing.T) { testOutboxTransitions(t, open) })
}

// forceBatch puts the batch into status with counters the database accepts for it.
func (f *fixture) forceBatch(id uuid.UUID, status ingest.BatchStatus) {
	f.t.Helper()
	counts := map[ingest.BatchStatus][3]int{
		ingest.BatchOpen: {1, 0, 0}, ingest.BatchSealed: {1, 0, 0}, ingest.BatchComplete: {1, 1, 0},
		ingest.BatchPartial: {2, 1, 1}, ingest.BatchFailed: {1, 0, 1}, ingest.BatchCancelled: {1, 0, 1},
	}[status]
	var sealedAt any
	if status != ingest.BatchOpen && status != ingest.BatchCancelled {
		sealedAt = sqlTime(f.Clock.Now())
	}
	f.exec(`UPDATE upload_batches SET status = $1, total_files = $2, stored_count = $3, failed_count = $4, sealed_at = $5
		WHERE id = $6`, status, counts[0], counts[1], counts[2], sealedAt, id)
}

func testBatchTransitions(t *testing.T, open Opener) {
	ops := map[ingest.BatchStatus]struct {
		run  func(*fixture, uuid.UUID) (*ingest.Batch, error)
		from []ingest.BatchStatus
	}{
		ingest.BatchSealed: {
			func(f *fixture, id uuid.UUID) (*ingest.Batch, error) { return f.Store.SealBatch(f.ctx, id) },
			[]ingest.BatchStatus{ingest.BatchOpen},
		},
		ingest.BatchCancelled: {
			func(f *fixture, id uuid.UUID) (*ingest.Batch, error) {
				b, _, err := f.Store.CancelBatch(f.ctx, id)
				return b, err
			},
			[]ingest.BatchStatus{ingest.BatchOpen, ingest.BatchSealed},
		},
	}
	for to, op := range ops {
		for _, from := range ingest.BatchStatuses() {
			t.Run(string(from)+" to "+string(to), func(t *testing.T) {
				f := newFixture(t, open)
				b := f.batch(f.user(false))
				f.forceBatch(b.ID, from)
				got, err := op.run(f, b.ID)
				if slices.Contains(op.from, from) {
					if err != nil || got.Status != to || f.getBatch(b.ID).Status != to {
						t.Fatalf("got %v, %v; want %s", got, err, to)
					}
					return
				}
				wantTransitionError(t, err, string(from), ingest.EBatchNotOpen)
				if now := f.getBatch(b.ID).Status; now != from {
					t.Errorf("a refused transition moved the batch to %s", now)
				}
			})
		}
	}
}

// forceSession puts an upload's session into status, and its file into the status that goes with
// it, keeping every database constraint.
func (f *fixture) forceSession(sess *ingest.UploadSession, status ingest.SessionStatus) {
	f.t.Helper()
	now := sqlTime(f.Clock.Now())
	switch status {
	case ingest.SessionComplete:
		f.exec(`UPDATE upload_sessions SET status = 'COMPLETE', received_parts_count = total_parts, completed_at = $1 WHERE id = $2`, now, sess.ID)
		f.exec(`UPDATE ingest_files SET status = 'STORED', sha256 = $1, storage_backend = 'local', storage_key = 'k', stored_at = $2
			WHERE id = $3`, hashOf("x"), now, sess.FileID)
	case ingest.SessionFailed, ingest.SessionAborted:
		f.exec(`UPDATE upload_sessions SET status = $1 WHERE id = $2`, status, sess.ID)
		f.exec(`UPDATE ingest_files SET status = 'FAILED', failure_code = 'SESSION_NOT_ACTIVE', failure_reason = 'forced' WHERE id = $1`, sess.FileID)
	default:
		f.exec(`UPDATE upload_sessions SET status = $1 WHERE id = $2`, status, sess.ID)
	}
}

func testSessionTransitions(t *testing.T, open Opener) {
	active := []ingest.SessionStatus{ingest.SessionInit, ingest.SessionInProgress}
	ops := []struct {
		name string
		to   ingest.SessionStatus
		// received: whether the upload's one part is received before the session is forced.
		received bool
		run      func(*fixture, *ingest.UploadSession) error
	}{
		{"complete", ingest.SessionComplete, true, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.StoreFile(f.ctx, s.ID, object(4))
			return err
		}},
		{"abort", ingest.SessionAborted, false, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.EndUpload(f.ctx, s.ID, ingest.SessionAborted, ingest.EAborted, "client")
			return err
		}},
		{"fail", ingest.SessionFailed, false, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.EndUpload(f.ctx, s.ID, ingest.SessionFailed, ingest.ESessionExpired, "expired")
			return err
		}},
		{"receive a part", ingest.SessionInProgress, false, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.ReceivePart(f.ctx, s.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 1}, f.Clock.Now().Add(time.Hour))
			return err
		}},
	}
	for _, op := range ops {
		for _, from := range ingest.SessionStatuses() {
			t.Run(op.name+" from "+string(from), func(t *testing.T) {
				f := newFixture(t, open)
				_, sess := f.upload(f.user(false), nil, 4, 4)
				if op.received {
					f.receive(sess, 1, 4)
				} else if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "k", SizeBytes: 4}); err != nil {
					t.Fatal(err)
				}
				f.forceSession(sess, from)
				fileBefore := f.getFile(sess.FileID).Status
				err := op.run(f, sess)
				if slices.Contains(active, from) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if got := f.getSession(sess.ID).Status; got != op.to {
						t.Errorf("session = %s, want %s", got, op.to)
					}
					return
				}
				wantTransitionError(t, err, string(from), ingest.ESessionNotActive)
				if got := f.getSession(sess.ID).Status; got != from {
					t.Errorf("a refused transition moved the session to %s", got)
				}
				if got := f.getFile(sess.FileID).Status; got != fileBefore {
					t.Errorf("a refused transition moved the file from %s to %s", fileBefore, got)
				}
			})
		}
	}
}

func testFileTransitions(t *testing.T, open Opener) {
	ops := []struct {
		to  ingest.FileStatus
		run func(*fixture, *ingest.UploadSession) error
	}{
		{ingest.FileStored, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.StoreFile(f.ctx, s.ID, object(4))
			return err
		}},
		{ingest.FileFailed, func(f *fixture, s *ingest.UploadSession) error {
			_, err := f.Store.EndUpload(f.ctx, s.ID, ingest.SessionFailed, ingest.ESessionExpired, "expired")
			return err
		}},
	}
	for _, op := range ops {
		for _, from := range ingest.FileStatuses() {
			t.Run(string(from)+" to "+string(op.to), func(t *testing.T) {
				f := newFixture(t, open)
				u := f.user(false)
				b := f.batch(u)
				file, sess := f.upload(u, b, 4, 4)
				f.receive(sess, 1, 4)
				// Only the file is forced; its session stays active, so the file's own
				// compare-and-set is what must refuse.
				switch from {
				case ingest.FileStored:
					f.exec(`UPDATE ingest_files SET status = 'STORED', sha256 = $1, storage_backend = 'local', storage_key = 'k',
						stored_at = $2 WHERE id = $3`, hashOf("x"), sqlTime(f.Clock.Now()), file.ID)
				case ingest.FileFailed:
					f.exec(`UPDATE ingest_files SET status = 'FAILED', failure_code = 'SESSION_NOT_ACTIVE', failure_reason = 'forced' WHERE id = $1`, file.ID)
				}
				err := op.run(f, sess)
				if from == ingest.FileUploading {
					if err != nil || f.getFile(file.ID).Status != op.to {
						t.Fatalf("got %v; want the file %s", err, op.to)
					}
					return
				}
				wantTransitionError(t, err, string(from), ingest.EInvalidTransition)
				if got := f.getFile(file.ID).Status; got != from {
					t.Errorf("file moved to %s", got)
				}
				if got := f.getSession(sess.ID).Status; got != ingest.SessionInProgress {
					t.Errorf("the session moved to %s although its file refused: the transaction was not rolled back", got)
				}
				if got := f.getBatch(b.ID); got.StoredCount+got.FailedCount != 0 {
					t.Errorf("the batch counted a refused transition: %+v", got)
				}
				if n := f.count(`SELECT count(*) FROM portal_event_outbox`); n != 0 {
					t.Errorf("a refused completion wrote %d events", n)
				}
			})
		}
	}
}

func testPartTransitions(t *testing.T, open Opener) {
	ops := []struct {
		to   ingest.PartStatus
		from []ingest.PartStatus
		run  func(*fixture, *ingest.UploadSession) (*ingest.Part, error)
	}{
		{ingest.PartReceived, []ingest.PartStatus{ingest.PartPending}, func(f *fixture, s *ingest.UploadSession) (*ingest.Part, error) {
			return f.Store.ReceivePart(f.ctx, s.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 7}, f.Clock.Now().Add(time.Hour))
		}},
		{ingest.PartFailed, []ingest.PartStatus{ingest.PartPending}, func(f *fixture, s *ingest.UploadSession) (*ingest.Part, error) {
			return f.Store.FailPart(f.ctx, s.ID, 1)
		}},
	}
	for _, op := range ops {
		for _, from := range ingest.PartStatuses() {
			t.Run(string(from)+" to "+string(op.to), func(t *testing.T) {
				f := newFixture(t, open)
				_, sess := f.upload(f.user(false), nil, 8, 4)
				f.forcePart(sess, from)
				before := f.getSession(sess.ID).ReceivedPartsCount
				p, err := op.run(f, sess)
				if slices.Contains(op.from, from) {
					if err != nil || p.Status != op.to {
						t.Fatalf("got %v, %v; want %s", p, err, op.to)
					}
					return
				}
				wantTransitionError(t, err, string(from), ingest.EInvalidTransition)
				if got := f.partStatus(sess, 1); got != from {
					t.Errorf("part moved to %s", got)
				}
				if got := f.getSession(sess.ID).ReceivedPartsCount; got != before {
					t.Errorf("received parts went from %d to %d on a refused transition", before, got)
				}
			})
		}
	}
	// BeginPart is the way back to PENDING: it reopens a FAILED part and returns any other part as
	// it is, since a second writer of a part is the service's to judge, not an error here.
	for _, from := range ingest.PartStatuses() {
		t.Run(string(from)+" to PENDING", func(t *testing.T) {
			f := newFixture(t, open)
			_, sess := f.upload(f.user(false), nil, 8, 4)
			f.forcePart(sess, from)
			p, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "again", SizeBytes: 4})
			if err != nil {
				t.Fatal(err)
			}
			want := from
			if from == ingest.PartFailed {
				want = ingest.PartPending
			}
			if p.Status != want || f.partStatus(sess, 1) != want {
				t.Errorf("part = %s, want %s", p.Status, want)
			}
		})
	}
}

func (f *fixture) forcePart(sess *ingest.UploadSession, status ingest.PartStatus) {
	f.t.Helper()
	if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "k", SizeBytes: 4}); err != nil {
		f.t.Fatal(err)
	}
	switch status {
	case ingest.PartReceived:
		f.exec(`UPDATE upload_parts SET status = 'RECEIVED', crc32c = 1 WHERE session_id = $1`, sess.ID)
		f.exec(`UPDATE upload_sessions SET status = 'IN_PROGRESS', received_parts_count = 1 WHERE id = $1`, sess.ID)
	case ingest.PartFailed:
		f.exec(`UPDATE upload_parts SET status = 'FAILED' WHERE session_id = $1`, sess.ID)
	}
}

func (f *fixture) partStatus(sess *ingest.UploadSession, n int) ingest.PartStatus {
	f.t.Helper()
	var st ingest.PartStatus
	if err := f.DB.QueryRowContext(f.ctx, `SELECT status FROM upload_parts WHERE session_id = $1 AND part_number = $2`, sess.ID, n).Scan(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

func testOutboxTransitions(t *testing.T, open Opener) {
	const lease = time.Minute
	// "SENDING, lease passed" is a SENDING row whose relay vanished: only a claim may take it.
	states := []string{"PENDING", "SENDING", "SENDING, lease passed", "DELIVERED", "FAILED"}
	force := func(f *fixture, id uuid.UUID, state string) {
		now := f.Clock.Now()
		switch state {
		case "SENDING":
			f.exec(`UPDATE portal_event_outbox SET status = 'SENDING', attempt_count = 1, next_attempt_at = $1 WHERE id = $2`, sqlTime(now.Add(lease)), id)
		case "SENDING, lease passed":
			f.exec(`UPDATE portal_event_outbox SET status = 'SENDING', attempt_count = 1, next_attempt_at = $1 WHERE id = $2`, sqlTime(now.Add(-time.Second)), id)
		case "DELIVERED":
			f.exec(`UPDATE portal_event_outbox SET status = 'DELIVERED', attempt_count = 1, delivered_at = $1 WHERE id = $2`, sqlTime(now), id)
		case "FAILED":
			f.exec(`UPDATE portal_event_outbox SET status = 'FAILED', attempt_count = 1, last_error = 'x' WHERE id = $1`, id)
		}
	}
	ops := []struct {
		name string
		to   ingest.OutboxStatus
		from []string
		run  func(*fixture, uuid.UUID) error
	}{
		{"claim", ingest.OutboxSending, []string{"PENDING", "SENDING, lease passed"}, func(f *fixture, id uuid.UUID) error {
			events, err := f.Store.ClaimEvents(f.ctx, 10, lease)
			if err == nil && len(events) == 0 {
				return &ingest.TransitionError{} // nothing claimed: stands for "refused" in this table
			}
			return err
		}},
		{"delivered", ingest.OutboxDelivered, []string{"SENDING", "SENDING, lease passed"}, func(f *fixture, id uuid.UUID) error {
			return f.Store.MarkDelivered(f.ctx, id, 1)
		}},
		{"retry later", ingest.OutboxPending, []string{"SENDING", "SENDING, lease passed"}, func(f *fixture, id uuid.UUID) error {
			return f.Store.MarkRetry(f.ctx, id, 1, f.Clock.Now().Add(time.Second), "503")
		}},
		{"failed", ingest.OutboxFailed, []string{"SENDING", "SENDING, lease passed"}, func(f *fixture, id uuid.UUID) error {
			return f.Store.MarkFailed(f.ctx, id, 1, "400")
		}},
		{"manual retry", ingest.OutboxPending, []string{"FAILED"}, func(f *fixture, id uuid.UUID) error {
			return f.Store.RetryEvent(f.ctx, id)
		}},
	}
	for _, op := range ops {
		for _, from := range states {
			t.Run(op.name+" from "+from, func(t *testing.T) {
				f := newFixture(t, open)
				_, e := f.storedEvent(f.user(false))
				force(f, e.ID, from)
				before := f.getEvent(e.ID)
				err := op.run(f, e.ID)
				if slices.Contains(op.from, from) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if got := f.getEvent(e.ID).Status; got != op.to {
						t.Errorf("event = %s, want %s", got, op.to)
					}
					return
				}
				var te *ingest.TransitionError
				if !asTransitionError(err, &te) {
					t.Fatalf("error = %v, want a *ingest.TransitionError", err)
				}
				if op.name != "claim" && (te.From != string(before.Status) || te.Code != ingest.EInvalidTransition) {
					t.Errorf("transition error from %s (%s), want from %s", te.From, te.Code, before.Status)
				}
				if after := f.getEvent(e.ID); after.Status != before.Status || after.AttemptCount != before.AttemptCount {
					t.Errorf("a refused transition changed the event from %s/%d to %s/%d",
						before.Status, before.AttemptCount, after.Status, after.AttemptCount)
				}
			})
		}
	}
}
