package storetest

import (
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// streamed registers a streamed upload of size bytes (deferred when size < 0), partial or not.
func (f *fixture) streamed(owner *ingest.User, size, chunk int64, partial bool) (*ingest.File, *ingest.UploadSession) {
	f.t.Helper()
	file, sess := newUpload(f, owner, nil, max(size, 0), chunk)
	sess.Streamed, sess.Partial, file.Partial = true, partial, partial
	if size < 0 {
		sess.LengthDeferred, sess.TotalParts = true, ingest.MaxParts
	}
	if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
		f.t.Fatalf("CreateUpload: %v", err)
	}
	return file, sess
}

// progress is the progress of a stream from one offset to another, with the parts it completed.
func (f *fixture) progress(from, to int64, parts ...ingest.StreamedPart) ingest.StreamProgress {
	now := f.Clock.Now()
	return ingest.StreamProgress{From: from, To: to, Parts: parts, HashState: []byte("state"),
		ExpiresAt: now.Add(time.Hour), LeaseUntil: now.Add(time.Minute)}
}

func streamedPart(n int, size int64) ingest.StreamedPart {
	return ingest.StreamedPart{Number: n, PartReceipt: ingest.PartReceipt{SizeBytes: size, CRC32C: uint32(n)}}
}

func testStreams(t *testing.T, open Opener) {
	tests := map[string]func(t *testing.T, f *fixture){
		"a streamed upload keeps its kind": func(t *testing.T, f *fixture) {
			file, sess := newUpload(f, f.user(false), nil, 0, 10)
			sess.Streamed, sess.Partial, file.Partial = true, true, true
			sess.LengthDeferred, sess.TotalParts, sess.TusMetadata = true, ingest.MaxParts, "filename YS5iaW4=,team b3Bz"
			if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
				t.Fatal(err)
			}
			got := f.getSession(sess.ID)
			if !got.Streamed || !got.LengthDeferred || !got.Partial || got.TotalParts != ingest.MaxParts || got.OffsetBytes != 0 ||
				got.TusMetadata != sess.TusMetadata || got.TusConcat != "" {
				t.Fatalf("session read back: %+v", got)
			}
			if !f.getFile(file.ID).Partial {
				t.Fatal("the partial upload's file is not partial")
			}
		},
		"one owner holds a lease; another gets it once it has run out": func(t *testing.T, f *fixture) {
			_, sess := f.streamed(f.user(false), 100, 10, false)
			until := f.Clock.Now().Add(time.Minute)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, until); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, until); err != nil {
				t.Fatalf("the holder renewing: %v", err)
			}
			_, err := f.Store.AcquireLease(f.ctx, sess.ID, "b", 0, until)
			wantCode(t, err, ingest.EUploadLocked)
			f.Clock.Advance(2 * time.Minute)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "b", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatalf("taking over a lease that ran out: %v", err)
			}
			_, err = f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(0, 10, streamedPart(1, 10)))
			wantCode(t, err, ingest.EUploadLocked)
			if err := f.Store.ReleaseLease(f.ctx, sess.ID, "a"); err != nil {
				t.Fatal(err)
			}
			_, err = f.Store.AcquireLease(f.ctx, sess.ID, "c", 0, f.Clock.Now().Add(time.Minute))
			wantCode(t, err, ingest.EUploadLocked) // a release by a former holder frees nothing
			if err := f.Store.ReleaseLease(f.ctx, sess.ID, "b"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "c", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatalf("after the holder released it: %v", err)
			}
		},
		"a lease is only had at the session's offset": func(t *testing.T, f *fixture) {
			_, sess := f.streamed(f.user(false), 100, 10, false)
			_, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 5, f.Clock.Now().Add(time.Minute))
			wantCode(t, err, ingest.EOffsetMismatch)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(0, 15, streamedPart(1, 10))); err != nil {
				t.Fatal(err)
			}
			_, err = f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, f.Clock.Now().Add(time.Minute))
			wantCode(t, err, ingest.EOffsetMismatch) // the holder's own upload moved on
		},
		"progress moves the offset, receives the parts and keeps the hash": func(t *testing.T, f *fixture) {
			_, sess := f.streamed(f.user(false), 25, 10, false)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			p := f.progress(0, 14, streamedPart(1, 10))
			p.TailCRC32C = 77
			got, err := f.Store.RecordStream(f.ctx, sess.ID, "a", p)
			if err != nil {
				t.Fatal(err)
			}
			if got.OffsetBytes != 14 || got.ReceivedPartsCount != 1 || got.HashedParts != 1 || got.TailCRC32C != 77 ||
				string(got.HashState) != "state" || got.Status != ingest.SessionInProgress {
				t.Fatalf("session after progress: %+v", got)
			}
			_, err = f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(0, 20))
			wantCode(t, err, ingest.EOffsetMismatch)
			_, err = f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(14, 20, streamedPart(3, 5)))
			wantCode(t, err, ingest.EValidation) // part 3 does not follow part 1
			if _, err := f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(14, 25, streamedPart(2, 10), streamedPart(3, 5))); err != nil {
				t.Fatal(err)
			}
			parts, err := f.Store.Parts(f.ctx, sess.ID)
			if err != nil || len(parts) != 3 || parts[2].Status != ingest.PartReceived || *parts[2].CRC32C != 3 {
				t.Fatalf("parts: %v %v", parts, err)
			}
			if _, err := f.Store.StoreFile(f.ctx, sess.ID, object(25)); err != nil {
				t.Fatalf("storing a streamed upload that holds every part: %v", err)
			}
			_, err = f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(25, 25))
			wantTransitionError(t, err, string(ingest.SessionComplete), ingest.ESessionNotActive)
		},
		"a deferred length is declared once, and not below the offset": func(t *testing.T, f *fixture) {
			file, sess := f.streamed(f.user(false), -1, 10, false)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(0, 20, streamedPart(1, 10), streamedPart(2, 10))); err != nil {
				t.Fatal(err)
			}
			short := f.progress(20, 20)
			short.Length = new(int64(19))
			_, err := f.Store.RecordStream(f.ctx, sess.ID, "a", short)
			wantCode(t, err, ingest.EValidation)
			declared := f.progress(20, 20)
			declared.Length = new(int64(26))
			got, err := f.Store.RecordStream(f.ctx, sess.ID, "a", declared)
			if err != nil {
				t.Fatal(err)
			}
			if got.LengthDeferred || got.TotalParts != 3 || f.getFile(file.ID).SizeBytes != 26 {
				t.Fatalf("after declaring 26 bytes: %+v, file size %d", got, f.getFile(file.ID).SizeBytes)
			}
			_, err = f.Store.RecordStream(f.ctx, sess.ID, "a", declared)
			wantCode(t, err, ingest.EValidation) // known already
		},
		"a numbered-parts session takes no stream": func(t *testing.T, f *fixture) {
			_, sess := f.upload(f.user(false), nil, 20, 10)
			if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "a", 0, f.Clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			_, err := f.Store.RecordStream(f.ctx, sess.ID, "a", f.progress(0, 10, streamedPart(1, 10)))
			wantCode(t, err, ingest.EValidation)
		},
		"a partial upload's file is never listed and never stored": func(t *testing.T, f *fixture) {
			owner := f.user(false)
			file, _ := f.streamed(owner, 10, 10, true)
			files, err := f.console().FindFiles(f.ctx, readmodel.ListQuery{UserID: &owner.ID, ExcludePartial: true})
			if err != nil || len(files.Items) != 0 {
				t.Fatalf("FindFiles: %v %v, want no files", files, err)
			}
			f.refused(`UPDATE ingest_files SET status = 'STORED', sha256 = $1, storage_backend = 'local', storage_key = 'k',
				stored_at = $2 WHERE id = $3`, hashOf("x"), sqlTime(f.Clock.Now()), file.ID)
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, open))
		})
	}
}
