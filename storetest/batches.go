package storetest

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func testBatches(t *testing.T, open Opener) {
	t.Run("a new batch is open and empty", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := &ingest.Batch{Name: "nightly", CreatedByID: u.ID, Status: ingest.BatchFailed, TotalFiles: 9}
		if err := f.Store.CreateBatch(f.ctx, b); err != nil {
			t.Fatal(err)
		}
		got := f.getBatch(b.ID)
		if got.Status != ingest.BatchOpen || got.Name != "nightly" || got.CreatedByID != u.ID ||
			got.TotalFiles != 0 || got.StoredCount != 0 || got.FailedCount != 0 || got.SealedAt != nil {
			t.Errorf("new batch = %+v", got)
		}
	})

	t.Run("a batch of an unknown user is not found", func(t *testing.T) {
		f := newFixture(t, open)
		wantCode(t, f.Store.CreateBatch(f.ctx, &ingest.Batch{CreatedByID: uuid.New()}), ingest.ENotFound)
		_, err := f.Store.Batch(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("a batch name is bounded", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		wantCode(t, f.Store.CreateBatch(f.ctx, &ingest.Batch{CreatedByID: u.ID, Name: strings.Repeat("x", 201)}), ingest.EValidation)
	})

	t.Run("sealing an empty batch completes it", func(t *testing.T) {
		f := newFixture(t, open)
		b := f.batch(f.user(false))
		got, err := f.Store.SealBatch(f.ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ingest.BatchComplete || got.SealedAt == nil {
			t.Errorf("sealed empty batch = %s, sealed at %v; want COMPLETE with a seal time", got.Status, got.SealedAt)
		}
	})

	t.Run("a sealed batch waits for its files, then reaches its outcome", func(t *testing.T) {
		for _, tc := range []struct {
			name          string
			stored, fails int
			want          ingest.BatchStatus
		}{
			{"all stored", 2, 0, ingest.BatchComplete},
			{"some failed", 2, 1, ingest.BatchPartial},
			{"all failed", 0, 2, ingest.BatchFailed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, open)
				u := f.user(false)
				b := f.batch(u)
				var sessions []*ingest.UploadSession
				for range tc.stored + tc.fails {
					_, s := f.upload(u, b, 8, 4)
					sessions = append(sessions, s)
				}
				sealed, err := f.Store.SealBatch(f.ctx, b.ID)
				if err != nil {
					t.Fatal(err)
				}
				if sealed.Status != ingest.BatchSealed {
					t.Fatalf("sealed with unfinished files = %s, want SEALED", sealed.Status)
				}
				for i, s := range sessions {
					if i < tc.stored {
						f.receiveAll(s, 8)
						if _, err := f.Store.StoreFile(f.ctx, s.ID, object(8)); err != nil {
							t.Fatal(err)
						}
					} else if _, err := f.Store.EndUpload(f.ctx, s.ID, ingest.SessionAborted, ingest.EAborted, "client aborted"); err != nil {
						t.Fatal(err)
					}
					if got := f.getBatch(b.ID); i < len(sessions)-1 && got.Status != ingest.BatchSealed {
						t.Fatalf("after %d of %d files the batch is %s, want SEALED", i+1, len(sessions), got.Status)
					}
				}
				got := f.getBatch(b.ID)
				if got.Status != tc.want || got.TotalFiles != tc.stored+tc.fails || got.StoredCount != tc.stored || got.FailedCount != tc.fails {
					t.Errorf("batch = %s %d/%d/%d, want %s %d/%d/%d", got.Status, got.TotalFiles, got.StoredCount, got.FailedCount,
						tc.want, tc.stored+tc.fails, tc.stored, tc.fails)
				}
			})
		}
	})

	t.Run("sealing a settled batch moves it to its outcome at once", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		f.store(u, b, 5)
		_, s := f.upload(u, b, 5, 4)
		if _, err := f.Store.EndUpload(f.ctx, s.ID, ingest.SessionFailed, ingest.EChecksumMismatch, "checksum mismatch"); err != nil {
			t.Fatal(err)
		}
		got, err := f.Store.SealBatch(f.ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ingest.BatchPartial || got.SealedAt == nil {
			t.Errorf("sealed settled batch = %s, want PARTIAL", got.Status)
		}
	})

	t.Run("cancelling aborts unfinished uploads and keeps stored files", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		stored := f.store(u, b, 6)
		pending, s1 := f.upload(u, b, 6, 4)
		f.receive(s1, 1, 4)
		_, s2 := f.upload(u, b, 6, 4)
		got, aborted, err := f.Store.CancelBatch(f.ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(aborted) != 2 || aborted[0].Status != ingest.SessionAborted || aborted[1].Status != ingest.SessionAborted ||
			!(aborted[0].ID == s1.ID && aborted[1].ID == s2.ID || aborted[0].ID == s2.ID && aborted[1].ID == s1.ID) {
			t.Errorf("aborted sessions = %+v, want %s and %s, ABORTED", aborted, s1.ID, s2.ID)
		}
		if got.Status != ingest.BatchCancelled || got.TotalFiles != 3 || got.StoredCount != 1 || got.FailedCount != 2 {
			t.Errorf("cancelled batch = %s %d/%d/%d, want CANCELLED 3/1/2", got.Status, got.TotalFiles, got.StoredCount, got.FailedCount)
		}
		for _, s := range []*ingest.UploadSession{s1, s2} {
			if st := f.getSession(s.ID).Status; st != ingest.SessionAborted {
				t.Errorf("session of the cancelled batch is %s, want ABORTED", st)
			}
		}
		if file := f.getFile(pending.ID); file.Status != ingest.FileFailed || file.FailureCode != ingest.EBatchCancelled ||
			file.FailureReason != "batch cancelled" {
			t.Errorf("unfinished file is %s %s (%q), want FAILED BATCH_CANCELLED (batch cancelled)", file.Status, file.FailureCode, file.FailureReason)
		}
		if file := f.getFile(stored.ID); file.Status != ingest.FileStored {
			t.Errorf("stored file is %s after cancel, want STORED", file.Status)
		}
		_, err = f.Store.StoreFile(f.ctx, s2.ID, object(6))
		wantTransitionError(t, err, "ABORTED", ingest.ESessionNotActive)
		file, sess := newUpload(f, u, b, 6, 4)
		wantCode(t, f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}), ingest.EBatchNotOpen)
	})

	t.Run("a file joins only an open batch", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		f.upload(u, b, 1, 4)
		if _, err := f.Store.SealBatch(f.ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		file, sess := newUpload(f, u, b, 1, 4)
		wantCode(t, f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}), ingest.EBatchNotOpen)
		if got := f.getBatch(b.ID).TotalFiles; got != 1 {
			t.Errorf("total_files = %d after a refused file, want 1", got)
		}
		if n := f.count(`SELECT count(*) FROM ingest_files`); n != 1 {
			t.Errorf("files = %d after a refused file, want 1", n)
		}
		missing := uuid.New()
		file, sess = newUpload(f, u, nil, 1, 4)
		file.BatchID = &missing
		wantCode(t, f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}), ingest.ENotFound)
	})
}
