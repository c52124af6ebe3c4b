package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// race runs fn n times at once and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one error is nil and every other is a *TransitionError.
func oneWinner(t *testing.T, errs []error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		var te *ingest.TransitionError
		switch {
		case err == nil:
			wins++
		case !asTransitionError(err, &te):
			t.Errorf("a loser got %v, want a *ingest.TransitionError", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racers won, want exactly 1", wins, len(errs))
	}
}

func testRaces(t *testing.T, open Opener) {
	const racers = 8

	t.Run("racing completions of one upload: one wins", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := f.upload(u, b, 8, 4)
		f.receiveAll(sess, 8)
		oneWinner(t, race(racers, func(int) error {
			_, err := f.Store.StoreFile(f.ctx, sess.ID, object(8))
			return err
		}))
		if got := f.getBatch(b.ID); got.StoredCount != 1 {
			t.Errorf("stored_count = %d, want 1", got.StoredCount)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1`, file.ID); n != 1 {
			t.Errorf("events = %d, want 1", n)
		}
	})

	t.Run("racing completion and abort: one wins", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := f.upload(u, b, 8, 4)
		f.receiveAll(sess, 8)
		oneWinner(t, race(racers, func(i int) error {
			if i%2 == 0 {
				_, err := f.Store.StoreFile(f.ctx, sess.ID, object(8))
				return err
			}
			_, err := f.Store.EndUpload(f.ctx, sess.ID, ingest.SessionAborted, ingest.EAborted, "client")
			return err
		}))
		got, ff := f.getBatch(b.ID), f.getFile(file.ID)
		if got.StoredCount+got.FailedCount != 1 || (ff.Status == ingest.FileStored) != (got.StoredCount == 1) {
			t.Errorf("batch %d stored, %d failed; file %s", got.StoredCount, got.FailedCount, ff.Status)
		}
	})

	t.Run("racing seals and cancels of one batch: one of each wins", func(t *testing.T) {
		for _, op := range []func(*fixture, uuid.UUID) error{
			func(f *fixture, id uuid.UUID) error { _, err := f.Store.SealBatch(f.ctx, id); return err },
			func(f *fixture, id uuid.UUID) error { _, _, err := f.Store.CancelBatch(f.ctx, id); return err },
		} {
			f := newFixture(t, open)
			u := f.user(false)
			b := f.batch(u)
			f.upload(u, b, 8, 4)
			oneWinner(t, race(racers, func(int) error { return op(f, b.ID) }))
		}
	})

	t.Run("racing part receipts: one wins and is counted once", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 8, 4)
		if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "k", SizeBytes: 4}); err != nil {
			t.Fatal(err)
		}
		oneWinner(t, race(racers, func(i int) error {
			_, err := f.Store.ReceivePart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: uint32(i)}, f.Clock.Now().Add(time.Hour))
			return err
		}))
		if got := f.getSession(sess.ID).ReceivedPartsCount; got != 1 {
			t.Errorf("received parts = %d, want 1", got)
		}
	})

	t.Run("twenty concurrent completions in one sealed batch keep the counters exact", func(t *testing.T) {
		const files = 20
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		sessions := make([]*ingest.UploadSession, files)
		for i := range sessions {
			_, sessions[i] = f.upload(u, b, 4, 4)
			f.receiveAll(sessions[i], 4)
		}
		if _, err := f.Store.SealBatch(f.ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		for i, err := range race(files, func(i int) error {
			if i%4 == 3 {
				_, err := f.Store.EndUpload(f.ctx, sessions[i].ID, ingest.SessionFailed, ingest.EChecksumMismatch, "checksum mismatch")
				return err
			}
			_, err := f.Store.StoreFile(f.ctx, sessions[i].ID, object(4))
			return err
		}) {
			if err != nil {
				t.Errorf("file %d: %v", i, err)
			}
		}
		got := f.getBatch(b.ID)
		if got.Status != ingest.BatchPartial || got.TotalFiles != files || got.StoredCount != 15 || got.FailedCount != 5 {
			t.Errorf("batch = %s %d/%d/%d, want PARTIAL 20/15/5", got.Status, got.TotalFiles, got.StoredCount, got.FailedCount)
		}
	})

	t.Run("a part received while it fails and reopens is counted exactly", func(t *testing.T) { testRacingReopen(t, open) })

	t.Run("concurrent claims never hand out one event twice", func(t *testing.T) {
		const events, claimers = 40, 4
		f := newFixture(t, open)
		u := f.user(false)
		for range events {
			f.storedEvent(u)
		}
		var mu sync.Mutex
		seen := map[uuid.UUID]int{}
		for _, err := range race(claimers, func(int) error {
			for {
				batch, err := f.Store.ClaimEvents(f.ctx, 3, time.Minute)
				if err != nil || len(batch) == 0 {
					return err
				}
				mu.Lock()
				for _, e := range batch {
					seen[e.ID]++
				}
				mu.Unlock()
			}
		}) {
			if err != nil {
				t.Error(err)
			}
		}
		if len(seen) != events {
			t.Errorf("claimed %d distinct events, want %d", len(seen), events)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("event %s claimed %d times", id, n)
			}
		}
	})
}

// testRacingReopen races a part's receipt against its failure and reopening, many times. Whatever
// interleaving wins, a method either succeeds with a result or fails with an error, and the
// session's count of received parts equals the parts that are RECEIVED.
func testRacingReopen(t *testing.T, open Opener) {
	f := newFixture(t, open)
	_, sess := f.upload(f.user(false), nil, 4*200, 4)
	for n := 1; n <= 200; n++ {
		begin := func() error {
			_, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: n, TempKey: "k", SizeBytes: 4})
			return err
		}
		if err := begin(); err != nil {
			t.Fatal(err)
		}
		race(2, func(i int) error {
			if i == 0 {
				if _, err := f.Store.FailPart(f.ctx, sess.ID, n); err == nil {
					_ = begin()
				}
				return nil
			}
			p, err := f.Store.ReceivePart(f.ctx, sess.ID, n, ingest.PartReceipt{SizeBytes: 4, CRC32C: 1}, f.Clock.Now().Add(time.Hour))
			if (p == nil) == (err == nil) {
				t.Errorf("part %d: ReceivePart returned %v, %v", n, p, err)
			}
			return nil
		})
	}
	received := f.count(`SELECT count(*) FROM upload_parts WHERE session_id = $1 AND status = 'RECEIVED'`, sess.ID)
	if got := f.getSession(sess.ID).ReceivedPartsCount; got != received {
		t.Errorf("received_parts_count = %d, but %d parts are RECEIVED", got, received)
	}
}
