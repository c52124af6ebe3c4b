package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

func testUploads(t *testing.T, open Opener) {
	t.Run("a new upload is an UPLOADING file with an INIT session", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := newUpload(f, u, b, 10, 4)
		sess.IdempotencyKey = "key-1"
		sess.DeclaredSHA256 = hashOf("declared")
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		gotFile, gotSess := f.getFile(file.ID), f.getSession(sess.ID)
		if gotFile.Status != ingest.FileUploading || gotFile.SizeBytes != 10 || *gotFile.BatchID != b.ID ||
			gotFile.UploadedByID != u.ID || gotFile.OriginalFilename != "report.csv" || gotFile.ContentType != "text/csv" ||
			gotFile.SHA256 != "" || gotFile.StorageKey != "" || gotFile.StoredAt != nil {
			t.Errorf("new file = %+v", gotFile)
		}
		if gotSess.Status != ingest.SessionInit || gotSess.FileID != file.ID || gotSess.TotalParts != 3 ||
			gotSess.ChunkSizeBytes != 4 || gotSess.ReceivedPartsCount != 0 || gotSess.IdempotencyKey != "key-1" ||
			gotSess.DeclaredSHA256 != hashOf("declared") || !gotSess.ExpiresAt.Equal(f.Clock.Now().Add(24*time.Hour)) {
			t.Errorf("new session = %+v", gotSess)
		}
		if got := f.getBatch(b.ID).TotalFiles; got != 1 {
			t.Errorf("batch total_files = %d, want 1", got)
		}
	})

	t.Run("an invalid upload is refused and nothing is written", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		for name, mutate := range map[string]func(*ingest.File, *ingest.UploadSession){
			"negative size":    func(f *ingest.File, s *ingest.UploadSession) { f.SizeBytes = -1 },
			"zero chunk":       func(f *ingest.File, s *ingest.UploadSession) { s.ChunkSizeBytes = 0 },
			"wrong part count": func(f *ingest.File, s *ingest.UploadSession) { s.TotalParts++ },
			"too many parts": func(f *ingest.File, s *ingest.UploadSession) {
				f.SizeBytes, s.ChunkSizeBytes, s.TotalParts = 10001, 1, 10001
			},
			"no name":               func(f *ingest.File, s *ingest.UploadSession) { f.OriginalFilename = "" },
			"long name":             func(f *ingest.File, s *ingest.UploadSession) { f.OriginalFilename = strings.Repeat("n", 1025) },
			"bad declared sha256":   func(f *ingest.File, s *ingest.UploadSession) { s.DeclaredSHA256 = strings.Repeat("A", 64) },
			"no expiry":             func(f *ingest.File, s *ingest.UploadSession) { s.ExpiresAt = time.Time{} },
			"long content type":     func(f *ingest.File, s *ingest.UploadSession) { f.ContentType = strings.Repeat("t", 256) },
			"unknown uploader":      func(f *ingest.File, s *ingest.UploadSession) { f.UploadedByID = uuid.New() },
			"short declared sha256": func(f *ingest.File, s *ingest.UploadSession) { s.DeclaredSHA256 = "abc" },
			"long idempotency key":  func(f *ingest.File, s *ingest.UploadSession) { s.IdempotencyKey = strings.Repeat("k", 256) },
			"bad metadata key":      func(f *ingest.File, s *ingest.UploadSession) { f.Metadata = map[string]string{"a b": "v"} },
			"long metadata value": func(f *ingest.File, s *ingest.UploadSession) {
				f.Metadata = map[string]string{"v": strings.Repeat("x", ingest.MaxMetadataValueBytes+1)}
			},
		} {
			file, sess := newUpload(f, u, nil, 10, 4)
			mutate(file, sess)
			err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{})
			if err == nil {
				t.Errorf("%s: accepted", name)
			}
			if code := ingest.ErrorCode(err); code != ingest.EValidation && code != ingest.ENotFound {
				t.Errorf("%s: code %s, want VALIDATION_FAILED or NOT_FOUND", name, code)
			}
		}
		if n := f.count(`SELECT count(*) FROM ingest_files`) + f.count(`SELECT count(*) FROM upload_sessions`); n != 0 {
			t.Errorf("refused uploads left %d rows", n)
		}
	})

	t.Run("an empty file has no parts and completes at once", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 0, 4)
		if sess.TotalParts != 0 {
			t.Fatalf("total parts = %d, want 0", sess.TotalParts)
		}
		file, err := f.Store.StoreFile(f.ctx, sess.ID, object(0))
		if err != nil {
			t.Fatal(err)
		}
		if file.Status != ingest.FileStored || file.SizeBytes != 0 {
			t.Errorf("empty file = %s, %d bytes", file.Status, file.SizeBytes)
		}
	})

	t.Run("idempotency keys are unique per user", func(t *testing.T) {
		f := newFixture(t, open)
		alice, bob := f.user(false), f.user(false)
		file, sess := newUpload(f, alice, nil, 10, 4)
		sess.IdempotencyKey = "same"
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		again, againSess := newUpload(f, alice, nil, 10, 4)
		againSess.IdempotencyKey = "same"
		wantCode(t, f.Store.CreateUpload(f.ctx, again, againSess, ingest.UploadQuota{}), ingest.EIdempotencyConflict)
		if n := f.count(`SELECT count(*) FROM ingest_files`); n != 1 {
			t.Errorf("a refused duplicate left its file: %d files", n)
		}
		other, otherSess := newUpload(f, bob, nil, 10, 4)
		otherSess.IdempotencyKey = "same"
		if err := f.Store.CreateUpload(f.ctx, other, otherSess, ingest.UploadQuota{}); err != nil {
			t.Errorf("another user's key collides: %v", err)
		}
		found, err := f.Store.SessionByIdempotencyKey(f.ctx, alice.ID, "same")
		if err != nil || found.ID != sess.ID {
			t.Errorf("SessionByIdempotencyKey = %v, %v; want %s", found, err, sess.ID)
		}
		_, err = f.Store.SessionByIdempotencyKey(f.ctx, alice.ID, "other")
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("the first received part starts the session", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 10, 4)
		f.Clock.Advance(time.Hour)
		expires := f.Clock.Now().Add(24 * time.Hour)
		if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 2, TempKey: "k2", SizeBytes: 4}); err != nil {
			t.Fatal(err)
		}
		p, err := f.Store.ReceivePart(f.ctx, sess.ID, 2, ingest.PartReceipt{SizeBytes: 4, CRC32C: 0xdeadbeef, SHA256: hashOf("p2")}, expires)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != ingest.PartReceived || p.CRC32C == nil || *p.CRC32C != 0xdeadbeef || p.SHA256 != hashOf("p2") || p.TempKey != "k2" {
			t.Errorf("received part = %+v", p)
		}
		got := f.getSession(sess.ID)
		if got.Status != ingest.SessionInProgress || got.ReceivedPartsCount != 1 || !got.ExpiresAt.Equal(expires) {
			t.Errorf("session after one part = %s, %d received, expires %v", got.Status, got.ReceivedPartsCount, got.ExpiresAt)
		}
	})

	t.Run("part numbers outside the upload are refused", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 10, 4)
		for _, n := range []int{0, -1, 4} {
			_, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: n, TempKey: "k", SizeBytes: 4})
			wantCode(t, err, ingest.EValidation)
		}
		_, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: uuid.New(), PartNumber: 1, TempKey: "k", SizeBytes: 4})
		wantCode(t, err, ingest.ENotFound)
		_, err = f.Store.ReceivePart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4}, f.Clock.Now())
		wantCode(t, err, ingest.ENotFound)
		_, err = f.Store.ReceivePart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: -1}, f.Clock.Now())
		wantCode(t, err, ingest.EValidation)
		if got := f.getSession(sess.ID); got.ReceivedPartsCount != 0 || got.Status != ingest.SessionInit {
			t.Errorf("a refused part changed the session: %+v", got)
		}
	})

	t.Run("beginning a part again returns it unchanged until it failed", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 10, 4)
		first, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "first", SizeBytes: 4})
		if err != nil || first.Status != ingest.PartPending {
			t.Fatalf("BeginPart = %+v, %v", first, err)
		}
		second, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "second", SizeBytes: 4})
		if err != nil || second.ID != first.ID || second.TempKey != "first" || second.Status != ingest.PartPending {
			t.Errorf("second BeginPart = %+v, %v; want the first part unchanged", second, err)
		}
		if _, err := f.Store.FailPart(f.ctx, sess.ID, 1); err != nil {
			t.Fatal(err)
		}
		retried, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 1, TempKey: "retry", SizeBytes: 4})
		if err != nil || retried.ID != first.ID || retried.Status != ingest.PartPending || retried.TempKey != "retry" {
			t.Errorf("BeginPart after failure = %+v, %v; want PENDING again with the new key", retried, err)
		}
		parts, err := f.Store.Parts(f.ctx, sess.ID)
		if err != nil || len(parts) != 1 {
			t.Errorf("Parts = %d, %v; want 1", len(parts), err)
		}
		f.receive(sess, 3, 2)
		later, err := f.Store.PartsFrom(f.ctx, sess.ID, 2)
		if err != nil || len(later) != 1 || later[0].PartNumber != 3 {
			t.Errorf("PartsFrom 2 = %v, %v; want only part 3", later, err)
		}
	})

	t.Run("completing with parts missing lists them", func(t *testing.T) {
		f := newFixture(t, open)
		file, sess := f.upload(f.user(false), nil, 10, 4)
		f.receive(sess, 1, 4)
		f.receive(sess, 3, 2)
		_, err := f.Store.StoreFile(f.ctx, sess.ID, object(10))
		wantCode(t, err, ingest.EMissingParts)
		if got := ingest.ErrorDetails(err)["missing"]; !reflect.DeepEqual(got, []int{2}) {
			t.Errorf("missing = %v, want [2]", got)
		}
		if got := f.getFile(file.ID).Status; got != ingest.FileUploading {
			t.Errorf("file is %s after a refused completion", got)
		}
	})

	t.Run("a stored file keeps its verified pointer", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		file, sess := f.upload(u, nil, 10, 4)
		f.receiveAll(sess, 10)
		f.Clock.Advance(time.Minute)
		obj := ingest.StoredObject{SHA256: hashOf("x"), SizeBytes: 10, Backend: ingest.StorageS3, Bucket: "ingest", Key: "p/2026/11/26/" + file.ID.String()}
		stored, err := f.Store.StoreFile(f.ctx, sess.ID, obj)
		if err != nil {
			t.Fatal(err)
		}
		got := f.getFile(file.ID)
		if !reflect.DeepEqual(got, stored) {
			t.Errorf("StoreFile returned %+v, the store reads %+v", stored, got)
		}
		if got.Status != ingest.FileStored || got.SHA256 != obj.SHA256 || got.StorageBackend != ingest.StorageS3 ||
			got.StorageBucket != "ingest" || got.StorageKey != obj.Key || got.StoredAt == nil || !got.StoredAt.Equal(f.Clock.Now()) {
			t.Errorf("stored file = %+v", got)
		}
		s := f.getSession(sess.ID)
		if s.Status != ingest.SessionComplete || s.CompletedAt == nil || !s.CompletedAt.Equal(f.Clock.Now()) {
			t.Errorf("completed session = %s at %v", s.Status, s.CompletedAt)
		}
	})

	t.Run("the STORED invariant holds through the store", func(t *testing.T) {
		f := newFixture(t, open)
		file, sess := f.upload(f.user(false), nil, 10, 4)
		f.receiveAll(sess, 10)
		for name, obj := range map[string]ingest.StoredObject{
			"no sha256":         {SizeBytes: 10, Backend: ingest.StorageLocal, Key: "k"},
			"upper-case sha256": {SHA256: strings.ToUpper(hashOf("x")), SizeBytes: 10, Backend: ingest.StorageLocal, Key: "k"},
			"no backend":        {SHA256: hashOf("x"), SizeBytes: 10, Key: "k"},
			"unknown backend":   {SHA256: hashOf("x"), SizeBytes: 10, Backend: "ftp", Key: "k"},
			"no key":            {SHA256: hashOf("x"), SizeBytes: 10, Backend: ingest.StorageLocal},
			"s3 without bucket": {SHA256: hashOf("x"), SizeBytes: 10, Backend: ingest.StorageS3, Key: "k"},
			"size not declared": {SHA256: hashOf("x"), SizeBytes: 11, Backend: ingest.StorageLocal, Key: "k"},
			"negative size":     {SHA256: hashOf("x"), SizeBytes: -1, Backend: ingest.StorageLocal, Key: "k"},
		} {
			_, err := f.Store.StoreFile(f.ctx, sess.ID, obj)
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Errorf("%s: code %q (%v), want VALIDATION_FAILED", name, code, err)
			}
		}
		if got := f.getFile(file.ID); got.Status != ingest.FileUploading {
			t.Errorf("file = %s after refused completions", got.Status)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox`); n != 0 {
			t.Errorf("refused completions wrote %d events", n)
		}
	})

	t.Run("an upload stored at once is recorded whole in one transaction", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := newUpload(f, u, b, 10, 10)
		sess.IdempotencyKey = "once"
		sess.TusMetadata, sess.TusConcat = "filename YS5iaW4=", "final;/tus/a /tus/b"
		obj := object(10)
		receipt := ingest.PartReceipt{SizeBytes: 10, CRC32C: 99}
		if err := f.Store.RecordStoredUpload(f.ctx, file, sess, receipt, obj, nil); err != nil {
			t.Fatal(err)
		}
		got := f.getFile(file.ID)
		if got.Status != ingest.FileStored || got.SHA256 != obj.SHA256 || got.StorageKey != obj.Key || got.StoredAt == nil || *got.BatchID != b.ID {
			t.Errorf("file = %+v", got)
		}
		if s := f.getSession(sess.ID); s.Status != ingest.SessionComplete || s.ReceivedPartsCount != 1 || s.HashedParts != 1 || s.CompletedAt == nil ||
			s.TusMetadata != sess.TusMetadata || s.TusConcat != sess.TusConcat {
			t.Errorf("session = %+v", s)
		}
		parts, _ := f.Store.Parts(f.ctx, sess.ID)
		if len(parts) != 1 || parts[0].Status != ingest.PartReceived || *parts[0].CRC32C != 99 {
			t.Errorf("parts = %+v", parts)
		}
		if bb := f.getBatch(b.ID); bb.TotalFiles != 1 || bb.StoredCount != 1 {
			t.Errorf("batch = %+v", bb)
		}
		if e := f.eventOf(got); e.Status != ingest.OutboxPending {
			t.Errorf("event = %+v", e)
		}
		again, againSess := newUpload(f, u, nil, 10, 10)
		againSess.IdempotencyKey = "once"
		wantCode(t, f.Store.RecordStoredUpload(f.ctx, again, againSess, receipt, object(10), nil), ingest.EIdempotencyConflict)
		empty, emptySess := newUpload(f, u, nil, 0, 1)
		if err := f.Store.RecordStoredUpload(f.ctx, empty, emptySess, ingest.PartReceipt{}, object(0), nil); err != nil {
			t.Fatal(err)
		}
		if parts, _ := f.Store.Parts(f.ctx, emptySess.ID); len(parts) != 0 {
			t.Errorf("an empty file has %d parts", len(parts))
		}
		if _, err := f.Store.SealBatch(f.ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		late, lateSess := newUpload(f, u, b, 10, 10)
		wantCode(t, f.Store.RecordStoredUpload(f.ctx, late, lateSess, receipt, object(10), nil), ingest.EBatchNotOpen)
		bad, badSess := newUpload(f, u, nil, 10, 10)
		wantCode(t, f.Store.RecordStoredUpload(f.ctx, bad, badSess, receipt, ingest.StoredObject{SizeBytes: 10}, nil), ingest.EValidation)
		if n := f.count(`SELECT count(*) FROM ingest_files`); n != 2 {
			t.Errorf("files = %d after refused records, want 2", n)
		}
	})

	t.Run("an object's sync runs in the recording transaction, before it commits", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		receipt := ingest.PartReceipt{SizeBytes: 10, CRC32C: 7}
		file, sess := newUpload(f, u, nil, 10, 10)
		obj := object(10)
		syncs := 0
		var duringSync error
		flush := flushFunc(func() error {
			syncs++
			_, duringSync = f.Store.File(f.ctx, file.ID) // another connection: not committed yet
			return nil
		})
		if err := f.Store.RecordStoredUpload(f.ctx, file, sess, receipt, obj, flush); err != nil {
			t.Fatal(err)
		}
		if syncs != 1 {
			t.Errorf("the object's sync ran %d times, want once", syncs)
		}
		if ingest.ErrorCode(duringSync) != ingest.ENotFound {
			t.Errorf("during the sync the file was readable (%v): the sync must come before the commit", duringSync)
		}
		if got := f.getFile(file.ID); got.Status != ingest.FileStored {
			t.Errorf("file = %s after a successful sync, want STORED", got.Status)
		}

		lost, lostSess := newUpload(f, u, nil, 10, 10)
		lostFlush := flushFunc(func() error { return errors.New("the disk failed to flush") })
		if err := f.Store.RecordStoredUpload(f.ctx, lost, lostSess, receipt, object(10), lostFlush); err == nil {
			t.Fatal("RecordStoredUpload succeeded although the object's sync failed")
		}
		if _, err := f.Store.File(f.ctx, lost.ID); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("a file whose object's sync failed: %v, want NOT_FOUND (nothing recorded)", err)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox`); n != 1 {
			t.Errorf("%d events, want 1: none for the file whose object's sync failed", n)
		}
	})

	t.Run("the running hash advances by compare-and-set", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 12, 4)
		f.receive(sess, 1, 4)
		f.receive(sess, 2, 4)
		if err := f.Store.AdvanceHash(f.ctx, sess.ID, 0, 2, []byte("state-2")); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.Store.AdvanceHash(f.ctx, sess.ID, 0, 1, []byte("stale")), ingest.EConflict)
		wantCode(t, f.Store.AdvanceHash(f.ctx, sess.ID, 2, 3, []byte("unreceived")), ingest.EValidation)
		got := f.getSession(sess.ID)
		if got.HashedParts != 2 || string(got.HashState) != "state-2" {
			t.Errorf("hash = %d parts, %q; want 2, state-2", got.HashedParts, got.HashState)
		}
	})

	t.Run("a part received in order advances the running hash in the same transaction", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 12, 4)
		expires := f.Clock.Now().Add(time.Hour)
		begin := func(n int) {
			t.Helper()
			if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: n, TempKey: "k", SizeBytes: 4}); err != nil {
				t.Fatal(err)
			}
		}
		begin(1)
		p, after, err := f.Store.ReceiveHashedPart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 1}, expires, []byte("state-1"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != ingest.PartReceived || p.PartNumber != 1 {
			t.Errorf("received part = %+v", p)
		}
		if after.Status != ingest.SessionInProgress || after.ReceivedPartsCount != 1 || after.HashedParts != 1 ||
			string(after.HashState) != "state-1" || !after.ExpiresAt.Equal(expires) {
			t.Errorf("session returned = %+v; want IN_PROGRESS, 1 part received and hashed with state-1", after)
		}
		if got := f.getSession(sess.ID); got.HashedParts != 1 || string(got.HashState) != "state-1" || got.ReceivedPartsCount != 1 {
			t.Errorf("session stored = %d hashed, %q, %d received; want 1, state-1, 1", got.HashedParts, got.HashState, got.ReceivedPartsCount)
		}
		_, _, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 1}, expires, []byte("again"))
		var te *ingest.TransitionError
		if !errors.As(err, &te) || te.Code != ingest.EInvalidTransition {
			t.Errorf("receiving a RECEIVED part again = %v, want INVALID_TRANSITION", err)
		}
		if got := f.getSession(sess.ID); got.ReceivedPartsCount != 1 || got.HashedParts != 1 || string(got.HashState) != "state-1" {
			t.Errorf("a refused receipt changed the session: %d received, %d hashed, %q", got.ReceivedPartsCount, got.HashedParts, got.HashState)
		}
		// Part 3 out of order: the hash is at 1 part, not 2, so it stays; that is no error.
		begin(3)
		if _, after, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 3, ingest.PartReceipt{SizeBytes: 4, CRC32C: 3}, expires, []byte("state-3")); err != nil {
			t.Fatal(err)
		}
		if after.ReceivedPartsCount != 2 || after.HashedParts != 1 || string(after.HashState) != "state-1" {
			t.Errorf("session after part 3 = %d received, %d hashed, %q; want 2, 1, state-1", after.ReceivedPartsCount, after.HashedParts, after.HashState)
		}
		// Without a state the hash is left as it is, as ReceivePart does.
		begin(2)
		if _, after, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 2, ingest.PartReceipt{SizeBytes: 4, CRC32C: 2}, expires, nil); err != nil {
			t.Fatal(err)
		}
		if after.ReceivedPartsCount != 3 || after.HashedParts != 1 {
			t.Errorf("session after part 2 = %d received, %d hashed; want 3, 1", after.ReceivedPartsCount, after.HashedParts)
		}
		_, _, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 2, ingest.PartReceipt{SizeBytes: 4}, expires, []byte{})
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("a session is read with its file and one of its parts", func(t *testing.T) {
		f := newFixture(t, open)
		file, sess := f.upload(f.user(false), nil, 10, 4)
		gotSess, gotFile, part, err := f.Store.UploadSessionForPart(f.ctx, sess.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if part != nil {
			t.Errorf("part with no row = %+v, want nil", part)
		}
		if want := f.getSession(sess.ID); !reflect.DeepEqual(gotSess, want) {
			t.Errorf("session = %+v, want %+v", gotSess, want)
		}
		if want := f.getFile(file.ID); !reflect.DeepEqual(gotFile, want) {
			t.Errorf("file = %+v, want %+v", gotFile, want)
		}
		f.receive(sess, 2, 4)
		if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 3, TempKey: "k", SizeBytes: 2}); err != nil {
			t.Fatal(err)
		}
		parts, err := f.Store.Parts(f.ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range parts {
			_, _, part, err = f.Store.UploadSessionForPart(f.ctx, sess.ID, want.PartNumber)
			if err != nil || !reflect.DeepEqual(part, want) {
				t.Errorf("part %d = %+v, %v; want %+v", want.PartNumber, part, err, want)
			}
		}
		_, _, _, err = f.Store.UploadSessionForPart(f.ctx, uuid.New(), 1)
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("a part never begun, or FAILED, is received in one transaction", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 12, 4)
		expires := f.Clock.Now().Add(time.Hour)
		p, after, err := f.Store.ReceiveHashedPart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 1, ETag: "e1"}, expires, []byte("state-1"))
		if err != nil {
			t.Fatal(err)
		}
		wantKey := sess.StorageUploadID
		if wantKey == "" {
			wantKey = sess.ID.String()
		}
		if p.Status != ingest.PartReceived || p.PartNumber != 1 || p.SizeBytes != 4 || p.CRC32C == nil || *p.CRC32C != 1 ||
			p.ETag != "e1" || p.TempKey != wantKey || p.SessionID != sess.ID {
			t.Errorf("part received with no row = %+v", p)
		}
		if after.ReceivedPartsCount != 1 || after.HashedParts != 1 || after.Status != ingest.SessionInProgress {
			t.Errorf("session after an unbegun part = %+v", after)
		}
		if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: 2, TempKey: "k", SizeBytes: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Store.FailPart(f.ctx, sess.ID, 2); err != nil {
			t.Fatal(err)
		}
		if p, after, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 2, ingest.PartReceipt{SizeBytes: 4, CRC32C: 2}, expires, []byte("state-2")); err != nil {
			t.Fatal(err)
		}
		if p.Status != ingest.PartReceived || after.ReceivedPartsCount != 2 || after.HashedParts != 2 {
			t.Errorf("FAILED part retried = %+v, session %d received %d hashed", p, after.ReceivedPartsCount, after.HashedParts)
		}
		// A RECEIVED part stays as it was received.
		_, _, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 9}, expires, nil)
		var te *ingest.TransitionError
		if !errors.As(err, &te) || te.Code != ingest.EInvalidTransition {
			t.Errorf("receiving a RECEIVED part again = %v, want INVALID_TRANSITION", err)
		}
		if got := f.partStatus(sess, 1); got != ingest.PartReceived {
			t.Errorf("part 1 = %s", got)
		}
		parts, err := f.Store.Parts(f.ctx, sess.ID)
		if err != nil || len(parts) != 2 || *parts[0].CRC32C != 1 {
			t.Errorf("parts after a refused receipt = %+v, %v; want part 1 with its first CRC32C", parts, err)
		}
		if got := f.getSession(sess.ID); got.ReceivedPartsCount != 2 {
			t.Errorf("a refused receipt counted: %d received", got.ReceivedPartsCount)
		}
		_, _, err = f.Store.ReceiveHashedPart(f.ctx, sess.ID, 4, ingest.PartReceipt{SizeBytes: 4, CRC32C: 4}, expires, nil)
		wantCode(t, err, ingest.EValidation)
		_, _, err = f.Store.ReceiveHashedPart(f.ctx, uuid.New(), 1, ingest.PartReceipt{SizeBytes: 4, CRC32C: 4}, expires, nil)
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("ending an upload fails its file with its code and reason", func(t *testing.T) {
		for _, tc := range []struct {
			to           ingest.SessionStatus
			code         ingest.Code
			reason, want string
		}{
			{ingest.SessionFailed, ingest.EChecksumMismatch, "checksum mismatch: declared x", "checksum mismatch: declared x"},
			{ingest.SessionFailed, ingest.ESessionExpired, "expired", "expired"},
			{ingest.SessionFailed, ingest.ESessionNotActive, "", "upload failed"},
			{ingest.SessionAborted, ingest.EAborted, "", "upload aborted"},
			{ingest.SessionAborted, ingest.EBatchCancelled, "batch cancelled", "batch cancelled"},
		} {
			t.Run(string(tc.code), func(t *testing.T) {
				f := newFixture(t, open)
				u := f.user(false)
				b := f.batch(u)
				file, sess := f.upload(u, b, 10, 4)
				got, err := f.Store.EndUpload(f.ctx, sess.ID, tc.to, tc.code, tc.reason)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.to {
					t.Errorf("session = %s, want %s", got.Status, tc.to)
				}
				if ff := f.getFile(file.ID); ff.Status != ingest.FileFailed || ff.FailureCode != tc.code || ff.FailureReason != tc.want {
					t.Errorf("file = %s %s (%q), want FAILED %s (%q)", ff.Status, ff.FailureCode, ff.FailureReason, tc.code, tc.want)
				}
				if bb := f.getBatch(b.ID); bb.FailedCount != 1 {
					t.Errorf("batch failed_count = %d, want 1", bb.FailedCount)
				}
			})
		}
		f := newFixture(t, open)
		file, sess := f.upload(f.user(false), nil, 10, 4)
		for _, tc := range []struct {
			to   ingest.SessionStatus
			code ingest.Code
		}{
			{ingest.SessionComplete, ingest.EAborted},
			{ingest.SessionAborted, ""},
			{ingest.SessionFailed, ingest.EAborted},
			{ingest.SessionAborted, ingest.ESessionExpired},
			{ingest.SessionFailed, ingest.EMissingParts},
		} {
			_, err := f.Store.EndUpload(f.ctx, sess.ID, tc.to, tc.code, "no")
			wantCode(t, err, ingest.EValidation)
		}
		if ff := f.getFile(file.ID); ff.Status != ingest.FileUploading || ff.FailureCode != "" || ff.FailureReason != "" {
			t.Errorf("file after refused ends = %s %q (%q), want UPLOADING without a failure", ff.Status, ff.FailureCode, ff.FailureReason)
		}
		_, err := f.Store.EndUpload(f.ctx, uuid.New(), ingest.SessionAborted, ingest.EAborted, "no")
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("metadata is stored and read back, and the file.stored event carries it", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		want := map[string]string{"relative_path": "q4/é/report.csv", "note": "straße ✓ \"quoted\" <b>&</b>", "empty": "",
			"a.b_c-D": strings.Repeat("ü", ingest.MaxMetadataValueBytes/2)}
		file, sess := newUpload(f, u, nil, 8, 4)
		file.Metadata = want
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		if got := f.getFile(file.ID).Metadata; !reflect.DeepEqual(got, want) {
			t.Errorf("metadata of the UPLOADING file = %v, want %v", got, want)
		}
		f.receiveAll(sess, 8)
		stored, err := f.Store.StoreFile(f.ctx, sess.ID, object(8))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored.Metadata, want) {
			t.Errorf("metadata of the STORED file = %v, want %v", stored.Metadata, want)
		}
		var data ingest.FileStoredData
		if err := json.Unmarshal(f.eventOf(stored).Payload, &data); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(data.Metadata, want) {
			t.Errorf("event metadata = %v, want %v", data.Metadata, want)
		}
		listed, err := f.console().FindFiles(f.ctx, readmodel.ListQuery{UserID: &u.ID, ExcludePartial: true})
		if err != nil || len(listed.Items) != 1 || !reflect.DeepEqual(listed.Items[0].Metadata, want) {
			t.Errorf("listed = %v, %v", listed, err)
		}

		once, onceSess := newUpload(f, u, nil, 10, 10)
		once.Metadata = map[string]string{"source": "scanner-7"}
		if err := f.Store.RecordStoredUpload(f.ctx, once, onceSess, ingest.PartReceipt{SizeBytes: 10}, object(10), nil); err != nil {
			t.Fatal(err)
		}
		if got := f.getFile(once.ID).Metadata; len(got) != 1 || got["source"] != "scanner-7" {
			t.Errorf("metadata recorded at once = %v", got)
		}
		if err := json.Unmarshal(f.eventOf(once).Payload, &data); err != nil || data.Metadata["source"] != "scanner-7" {
			t.Errorf("event metadata recorded at once = %v, %v", data.Metadata, err)
		}

		plain := f.store(u, nil, 4)
		if got := f.getFile(plain.ID).Metadata; got == nil || len(got) != 0 {
			t.Errorf("metadata of a file without any = %#v, want an empty map", got)
		}
		var raw map[string]any
		if err := json.Unmarshal(f.eventOf(plain).Payload, &raw); err != nil {
			t.Fatal(err)
		}
		if m, ok := raw["metadata"].(map[string]any); !ok || len(m) != 0 {
			t.Errorf("event metadata of a file without any = %#v, want {}", raw["metadata"])
		}
	})
}

// flushFunc is an object's pending flush (ingest.Pending) that runs a test's function.
type flushFunc func() error

func (f flushFunc) Wait() error { return f() }
