package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/storetest"
	"github.com/ingest-portal/ingest/upload"
)

const chunk = 1 << 10

// env is a service over a real database and a real local blob store.
type env struct {
	t       *testing.T
	ctx     context.Context
	svc     *upload.Service
	store   *sqlstore.Store
	blobs   *local.Store
	root    string
	clock   *storetest.Clock
	alice   *ingest.User
	bob     *ingest.User
	admin   *ingest.User
	dialect string
}

// forEachDatabase runs test on SQLite and on PostgreSQL.
func forEachDatabase(t *testing.T, test func(t *testing.T, e *env)) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, dialect))
		})
	}
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock()
	store := testdb.Store(t, dialect, sqlstore.WithClock(clock.Now))
	root := t.TempDir()
	blobs, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := upload.DefaultConfig()
	cfg.DefaultChunk = chunk
	cfg.MaxSingleUpload = 16 * chunk
	cfg.MaxFileSize = 200 << 30
	svc, err := upload.New(store, blobs, cfg, upload.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, svc: svc, store: store, blobs: blobs, root: root, clock: clock, dialect: dialect}
	e.alice, e.bob, e.admin = e.user("alice", false), e.user("bob", false), e.user("root", true)
	return e
}

func (e *env) user(name string, admin bool) *ingest.User {
	e.t.Helper()
	u := &ingest.User{Username: name, IsAdmin: admin}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// create starts an upload of data for actor.
func (e *env) create(actor *ingest.User, data []byte, mutate ...func(*upload.CreateRequest)) *ingest.UploadSession {
	e.t.Helper()
	req := upload.CreateRequest{Filename: "data.bin", ContentType: "application/octet-stream", SizeBytes: int64(len(data))}
	for _, m := range mutate {
		m(&req)
	}
	sess, created, err := e.svc.CreateSession(e.ctx, actor, req)
	if err != nil {
		e.t.Fatalf("CreateSession: %v", err)
	}
	if !created {
		e.t.Fatal("CreateSession: not created")
	}
	return sess
}

func part(data []byte, sess *ingest.UploadSession, n int) []byte {
	start := int64(n-1) * sess.ChunkSizeBytes
	return data[start:min(start+sess.ChunkSizeBytes, int64(len(data)))]
}

func (e *env) put(actor *ingest.User, sess *ingest.UploadSession, data []byte, n int) (*ingest.Part, error) {
	p := part(data, sess, n)
	return e.svc.PutPart(e.ctx, actor, sess.ID, n, int64(len(p)), bytes.NewReader(p), upload.Digest{})
}

func (e *env) mustPut(actor *ingest.User, sess *ingest.UploadSession, data []byte, order ...int) {
	e.t.Helper()
	for _, n := range order {
		if _, err := e.put(actor, sess, data, n); err != nil {
			e.t.Fatalf("PutPart %d: %v", n, err)
		}
	}
}

func inOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i + 1
	}
	return order
}

// content reads a stored file's content through the service.
func (e *env) content(actor *ingest.User, id uuid.UUID) []byte {
	e.t.Helper()
	_, r, err := e.svc.Content(e.ctx, actor, id, 0, -1)
	if err != nil {
		e.t.Fatalf("Content: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func wantCode(t *testing.T, err error, code ingest.Code) {
	t.Helper()
	if got := ingest.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestAnUploadSentInOrderIsHashedAsItArrives(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 3*chunk+5)
		sess := e.create(e.alice, data)
		if sess.TotalParts != 4 || sess.ChunkSizeBytes != chunk || sess.Status != ingest.SessionInit {
			t.Fatalf("session = %+v", sess)
		}
		e.mustPut(e.alice, sess, data, inOrder(4)...)
		got, err := e.svc.Session(e.ctx, e.alice, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.HashedParts != 4 || got.ReceivedPartsCount != 4 || got.Status != ingest.SessionInProgress {
			t.Errorf("after in-order parts: hashed %d, received %d, %s; want 4, 4, IN_PROGRESS", got.HashedParts, got.ReceivedPartsCount, got.Status)
		}
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != ingest.FileStored || f.SHA256 != sha(data) || f.SizeBytes != int64(len(data)) || f.StorageBackend != ingest.StorageLocal {
			t.Errorf("file = %+v, want STORED with sha %s", f, sha(data))
		}
		if !bytes.Equal(e.content(e.alice, f.ID), data) {
			t.Error("the stored content differs from the upload")
		}
		if !strings.HasSuffix(f.StorageKey, f.ID.String()) || strings.Contains(f.StorageKey, "data.bin") {
			t.Errorf("storage key %q does not come from the file id alone", f.StorageKey)
		}
		again, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || again.ID != f.ID || again.SHA256 != f.SHA256 {
			t.Errorf("completing again = %+v, %v; want the same file", again, err)
		}
	})
}

func TestPartsSentInParallelAndOutOfOrderAreFoldedBeforeCompletion(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 12*chunk+1)
		sess := e.create(e.alice, data)
		var wg sync.WaitGroup
		order := []int{13, 5, 2, 9, 1, 12, 3, 4, 11, 6, 8, 7, 10}
		sem := make(chan struct{}, 4)
		for _, n := range order {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := e.put(e.alice, sess, data, n); err != nil {
					t.Errorf("PutPart %d: %v", n, err)
				}
			}()
		}
		wg.Wait()
		got, _ := e.svc.Session(e.ctx, e.alice, sess.ID)
		if got.HashedParts != 13 {
			t.Errorf("hashed parts before completion = %d, want all 13 folded in", got.HashedParts)
		}
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f.SHA256 != sha(data) || !bytes.Equal(e.content(e.alice, f.ID), data) {
			t.Errorf("sha %s, want %s", f.SHA256, sha(data))
		}
	})
}

func TestCompletingWithPartsMissingListsThem(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 3*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 2)
		_, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.EMissingParts)
		if got := ingest.ErrorDetails(err)["missing"].([]int); len(got) != 2 || got[0] != 1 || got[1] != 3 {
			t.Errorf("missing = %v, want [1 3]", got)
		}
	})
}

func TestTheDeclaredHashIsVerified(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk+3)
		good := e.create(e.alice, data, func(r *upload.CreateRequest) { r.SHA256 = strings.ToUpper(sha(data)) })
		e.mustPut(e.alice, good, data, 2, 3, 1)
		if f, err := e.svc.Complete(e.ctx, e.alice, good.ID); err != nil || f.SHA256 != sha(data) {
			t.Fatalf("matching declared hash: %v, %v", f, err)
		}

		bad := e.create(e.alice, data, func(r *upload.CreateRequest) { r.SHA256 = sha([]byte("something else")) })
		e.mustPut(e.alice, bad, data, 1, 2, 3)
		_, err := e.svc.Complete(e.ctx, e.alice, bad.ID)
		wantCode(t, err, ingest.EChecksumMismatch)
		if d := ingest.ErrorDetails(err); d["computed_sha256"] != sha(data) {
			t.Errorf("details = %v", d)
		}
		sess, _ := e.svc.Session(e.ctx, e.alice, bad.ID)
		f, _ := e.svc.File(e.ctx, e.alice, bad.FileID)
		if sess.Status != ingest.SessionFailed || f.Status != ingest.FileFailed || f.FailureCode != ingest.EChecksumMismatch ||
			f.FailureReason != ingest.ErrorMessage(err) {
			t.Errorf("after a mismatch: session %s, file %s %s (%q); want FAILED, FAILED CHECKSUM_MISMATCH (%q)",
				sess.Status, f.Status, f.FailureCode, f.FailureReason, ingest.ErrorMessage(err))
		}
		first := ingest.ErrorMessage(err)
		_, err = e.svc.Complete(e.ctx, e.alice, bad.ID)
		wantCode(t, err, ingest.EChecksumMismatch)
		if got := ingest.ErrorMessage(err); got != first {
			t.Errorf("completing again answers %q, want %q again", got, first)
		}
		key := ingest.ObjectKey("", bad.FileID, ingest.IDTime(bad.FileID))
		if _, err := e.blobs.StatObject(e.ctx, key); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("the object of a mismatched file was kept: %v", err)
		}
	})
}

func TestAReceivedPartIsImmutable(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		first, err := e.put(e.alice, sess, data, 1)
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.put(e.alice, sess, data, 1)
		if err != nil || again.ID != first.ID || *again.CRC32C != crc32.Checksum(part(data, sess, 1), crc32.MakeTable(crc32.Castagnoli)) {
			t.Fatalf("the same bytes again = %+v, %v; want the part", again, err)
		}
		other := random(t, chunk)
		_, err = e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(other), upload.Digest{})
		wantCode(t, err, ingest.EPartAlreadyReceived)
		e.mustPut(e.alice, sess, data, 2)
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || f.SHA256 != sha(data) {
			t.Errorf("after a refused overwrite the file hashes to %s (%v), want %s", f.SHA256, err, sha(data))
		}
	})
}

func TestPartsOfTheWrongSizeOrNumberAreRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk-1)
		sess := e.create(e.alice, data)
		_, err := e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk-1, bytes.NewReader(data[:chunk-1]), upload.Digest{})
		wantCode(t, err, ingest.EPartSizeMismatch)
		_, err = e.svc.PutPart(e.ctx, e.alice, sess.ID, 2, chunk, bytes.NewReader(data[:chunk]), upload.Digest{})
		wantCode(t, err, ingest.EPartSizeMismatch)
		_, err = e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(data[:chunk-1]), upload.Digest{})
		wantCode(t, err, ingest.EPartSizeMismatch)
		for _, n := range []int{0, 3, -1} {
			_, err = e.svc.PutPart(e.ctx, e.alice, sess.ID, n, 1, bytes.NewReader(data[:1]), upload.Digest{})
			wantCode(t, err, ingest.EValidation)
		}
		got, _ := e.svc.Session(e.ctx, e.alice, sess.ID)
		if got.ReceivedPartsCount != 0 {
			t.Errorf("refused parts were counted: %d", got.ReceivedPartsCount)
		}
	})
}

func TestContentDigestsAreVerified(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		p1 := part(data, sess, 1)
		wrongSHA := sha256.Sum256([]byte("not the part"))
		_, err := e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(p1), upload.Digest{SHA256: wrongSHA[:]})
		wantCode(t, err, ingest.EChecksumMismatch)
		wrongCRC := uint32(7)
		_, err = e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(p1), upload.Digest{CRC32C: &wrongCRC})
		wantCode(t, err, ingest.EChecksumMismatch)
		if got, _ := e.svc.Session(e.ctx, e.alice, sess.ID); got.ReceivedPartsCount != 0 {
			t.Fatal("a part that failed its digest was counted")
		}
		if parts, _ := e.svc.Parts(e.ctx, e.alice, sess.ID); len(parts) != 1 || parts[0].Status != ingest.PartFailed {
			t.Fatalf("parts after a digest mismatch = %+v, want part 1 FAILED", parts)
		}
		rightSHA := sha256.Sum256(p1)
		rightCRC := crc32.Checksum(p1, crc32.MakeTable(crc32.Castagnoli))
		p, err := e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(p1), upload.Digest{SHA256: rightSHA[:], CRC32C: &rightCRC})
		if err != nil || p.SHA256 != hex.EncodeToString(rightSHA[:]) || p.Status != ingest.PartReceived {
			t.Fatalf("a part with right digests = %+v, %v", p, err)
		}
	})
}

// failingReader yields some bytes, then fails like a client that disconnects.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

func TestAClientThatDisconnectsMidPartLeavesNothingReceived(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		_, err := e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, &failingReader{bytes.NewReader(data[:chunk/2])}, upload.Digest{})
		if err == nil {
			t.Fatal("a broken body was accepted")
		}
		parts, _ := e.svc.Parts(e.ctx, e.alice, sess.ID)
		for _, p := range parts {
			if p.Status == ingest.PartReceived {
				t.Fatalf("part %d is RECEIVED after its body broke", p.PartNumber)
			}
		}
		// It broke before it was recorded PENDING (Config.PendingAfter): it is recorded FAILED all
		// the same.
		if len(parts) != 1 || parts[0].Status != ingest.PartFailed {
			t.Fatalf("parts after a broken body = %+v, want part 1 FAILED", parts)
		}
		if got, _ := e.svc.Session(e.ctx, e.alice, sess.ID); got.ReceivedPartsCount != 0 || got.HashedParts != 0 {
			t.Fatalf("after a broken part: %d received, %d hashed", got.ReceivedPartsCount, got.HashedParts)
		}
		e.mustPut(e.alice, sess, data, 1, 2)
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || f.SHA256 != sha(data) {
			t.Errorf("after re-sending: %v, %v", f, err)
		}
	})
}

// pendingWaiter holds back a part's body until the store shows the part PENDING.
type pendingWaiter struct {
	e    *env
	sess *ingest.UploadSession
	r    io.Reader
	seen bool
}

func (w *pendingWaiter) Read(b []byte) (int, error) {
	for !w.seen {
		parts, err := w.e.store.Parts(w.e.ctx, w.sess.ID)
		if err != nil {
			return 0, err
		}
		w.seen = len(parts) == 1 && parts[0].Status == ingest.PartPending
		time.Sleep(time.Millisecond)
	}
	return w.r.Read(b)
}

func TestAPartStillStreamingIsRecordedPendingThenReceived(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		cfg := upload.DefaultConfig()
		cfg.DefaultChunk = chunk
		cfg.PendingAfter = time.Millisecond
		svc, err := upload.New(e.store, e.blobs, cfg, upload.WithClock(e.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		data := random(t, chunk)
		sess := e.create(e.alice, data)
		p, err := svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, &pendingWaiter{e: e, sess: sess, r: bytes.NewReader(data)}, upload.Digest{})
		if err != nil || p.Status != ingest.PartReceived {
			t.Fatalf("a part recorded PENDING while it streamed = %+v, %v", p, err)
		}
		f, err := svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || f.SHA256 != sha(data) {
			t.Errorf("complete = %+v, %v", f, err)
		}
	})
}

func TestIdempotentCreation(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, chunk)
		key := func(r *upload.CreateRequest) { r.IdempotencyKey = "k-1" }
		first := e.create(e.alice, data, key)
		req := upload.CreateRequest{Filename: "data.bin", ContentType: "application/octet-stream", SizeBytes: int64(len(data)), IdempotencyKey: "k-1"}
		again, created, err := e.svc.CreateSession(e.ctx, e.alice, req)
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("the same request again = %v, created %v, %v; want the first session", again, created, err)
		}
		req.SizeBytes++
		_, _, err = e.svc.CreateSession(e.ctx, e.alice, req)
		wantCode(t, err, ingest.EIdempotencyConflict)
		req.SizeBytes--
		other, created, err := e.svc.CreateSession(e.ctx, e.bob, req)
		if err != nil || !created || other.ID == first.ID {
			t.Errorf("another user's same key = %v, %v, %v; want a new session", other, created, err)
		}
	})
}

func TestAnotherUsersUploadIsNotFoundButAnAdminSeesIt(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, chunk)
		sess := e.create(e.alice, data)
		for name, call := range map[string]func(actor *ingest.User) error{
			"session":  func(a *ingest.User) error { _, err := e.svc.Session(e.ctx, a, sess.ID); return err },
			"parts":    func(a *ingest.User) error { _, err := e.svc.Parts(e.ctx, a, sess.ID); return err },
			"put part": func(a *ingest.User) error { _, err := e.put(a, sess, data, 1); return err },
			"file":     func(a *ingest.User) error { _, err := e.svc.File(e.ctx, a, sess.FileID); return err },
		} {
			if err := call(e.bob); ingest.ErrorCode(err) != ingest.ENotFound {
				t.Errorf("%s by another user: %v, want NOT_FOUND", name, err)
			}
			if err := call(e.admin); err != nil {
				t.Errorf("%s by an admin: %v", name, err)
			}
		}
		_, err := e.svc.Complete(e.ctx, e.bob, sess.ID)
		wantCode(t, err, ingest.ENotFound)
		_, err = e.svc.Abort(e.ctx, e.bob, sess.ID)
		wantCode(t, err, ingest.ENotFound)
		files, err := e.svc.ListFiles(e.ctx, e.bob, readmodel.ListQuery{})
		if err != nil || len(files.Items) != 0 {
			t.Errorf("bob lists %v files, want 0 (%v)", files, err)
		}
		files, _ = e.svc.ListFiles(e.ctx, e.admin, readmodel.ListQuery{})
		if len(files.Items) != 1 {
			t.Errorf("the admin lists %d files, want 1", len(files.Items))
		}
	})
}

func TestExpiredSessionsFail(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 1)
		swept := e.create(e.alice, data)
		e.mustPut(e.alice, swept, data, 1)
		e.clock.Advance(25 * time.Hour)
		_, err := e.put(e.alice, sess, data, 2)
		wantCode(t, err, ingest.ESessionExpired)
		if got, _ := e.svc.Session(e.ctx, e.alice, sess.ID); got.Status != ingest.SessionFailed {
			t.Errorf("an expired session is %s, want FAILED", got.Status)
		}
		_, err = e.svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.ESessionExpired)
		n, err := e.svc.Sweep(e.ctx)
		if err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want 1", n, err)
		}
		f, _ := e.svc.File(e.ctx, e.alice, swept.FileID)
		if f.Status != ingest.FileFailed || f.FailureCode != ingest.ESessionExpired || f.FailureReason != "expired" {
			t.Errorf("swept file = %s %s %q, want FAILED SESSION_EXPIRED \"expired\"", f.Status, f.FailureCode, f.FailureReason)
		}
		if _, err := os.Stat(filepath.Join(e.root, ".uploads", swept.ID.String())); !os.IsNotExist(err) {
			t.Errorf("the swept session's temporary data is still there: %v", err)
		}
	})
}

// TestAPartStreamingWhenItsSessionExpiresAnswersExpired: a part whose session expires and is swept
// while its body streams answers SESSION_EXPIRED (410), as a part sent after the expiry does, not
// SESSION_NOT_ACTIVE.
func TestAPartStreamingWhenItsSessionExpiresAnswersExpired(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, pr, upload.Digest{})
			done <- err
		}()
		if _, err := pw.Write(data[:chunk/2]); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(25 * time.Hour)
		if n, err := e.svc.Sweep(e.ctx); err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want 1", n, err)
		}
		pw.Write(data[chunk/2 : chunk])
		pw.Close()
		wantCode(t, <-done, ingest.ESessionExpired)
	})
}

func TestAbort(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 1)
		got, err := e.svc.Abort(e.ctx, e.alice, sess.ID)
		if err != nil || got.Status != ingest.SessionAborted {
			t.Fatalf("Abort = %v, %v", got, err)
		}
		if again, err := e.svc.Abort(e.ctx, e.alice, sess.ID); err != nil || again.Status != ingest.SessionAborted {
			t.Errorf("aborting again = %v, %v", again, err)
		}
		if f, _ := e.svc.File(e.ctx, e.alice, sess.FileID); f.Status != ingest.FileFailed || f.FailureCode != ingest.EAborted ||
			f.FailureReason != "aborted by the client" {
			t.Errorf("aborted file = %s %s %q, want FAILED ABORTED \"aborted by the client\"", f.Status, f.FailureCode, f.FailureReason)
		}
		if _, err := os.Stat(filepath.Join(e.root, ".uploads", sess.ID.String())); !os.IsNotExist(err) {
			t.Errorf("an aborted session's temporary data is still there: %v", err)
		}
		_, err = e.svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.ESessionNotActive)
		_, err = e.put(e.alice, sess, data, 2)
		wantCode(t, err, ingest.ESessionNotActive)
		done := e.create(e.alice, data[:1])
		e.mustPut(e.alice, done, data[:1], 1)
		if _, err := e.svc.Complete(e.ctx, e.alice, done.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Abort(e.ctx, e.alice, done.ID)
		wantCode(t, err, ingest.ESessionNotActive)
	})
}

func TestSingleRequestUpload(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 5*chunk+7)
		req := upload.CreateRequest{Filename: "one.bin", SizeBytes: int64(len(data)), IdempotencyKey: "single"}
		f, created, err := e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(data), upload.Digest{})
		if err != nil || !created || f.Status != ingest.FileStored || f.SHA256 != sha(data) || f.ContentType != "application/octet-stream" {
			t.Fatalf("Put = %+v, %v, %v", f, created, err)
		}
		again, created, err := e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(data), upload.Digest{})
		if err != nil || created || again.ID != f.ID {
			t.Errorf("Put again = %v, %v, %v; want the same file, not created", again, created, err)
		}
		other := bytes.Clone(data)
		other[0] ^= 1
		_, _, err = e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(other), upload.Digest{})
		wantCode(t, err, ingest.EIdempotencyConflict)
		if kept, err := e.store.File(e.ctx, f.ID); err != nil || kept.SHA256 != sha(data) {
			t.Errorf("the first file after a repeat with other bytes = %+v, %v; want it unchanged", kept, err)
		}
		sum := sha256.Sum256(data)
		req.IdempotencyKey = ""
		if f, _, err := e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(data), upload.Digest{SHA256: sum[:]}); err != nil || f.SHA256 != sha(data) {
			t.Errorf("Put with a right digest = %v, %v", f, err)
		}
		wrong := sha256.Sum256([]byte("x"))
		_, _, err = e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(data), upload.Digest{SHA256: wrong[:]})
		wantCode(t, err, ingest.EChecksumMismatch)
		retried := req
		retried.IdempotencyKey = "fails"
		var first string
		for i := range 2 { // a retry with the same key answers the first outcome again
			_, _, err = e.svc.Put(e.ctx, e.alice, retried, bytes.NewReader(data), upload.Digest{SHA256: wrong[:]})
			wantCode(t, err, ingest.EChecksumMismatch)
			if i == 0 {
				first = ingest.ErrorMessage(err)
			} else if got := ingest.ErrorMessage(err); got != first {
				t.Errorf("the retry answers %q, want %q again", got, first)
			}
		}
		if failed, err := e.store.SessionByIdempotencyKey(e.ctx, e.alice.ID, "fails"); err != nil {
			t.Error(err)
		} else if f, _ := e.svc.File(e.ctx, e.alice, failed.FileID); f.FailureCode != ingest.EChecksumMismatch || f.FailureReason != first {
			t.Errorf("the failed single upload's file = %s %q, want CHECKSUM_MISMATCH %q", f.FailureCode, f.FailureReason, first)
		}
		req.SizeBytes = 16*chunk + 1
		_, _, err = e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(make([]byte, req.SizeBytes)), upload.Digest{})
		wantCode(t, err, ingest.EPayloadTooLarge)
		empty := upload.CreateRequest{Filename: "empty", SizeBytes: 0}
		if f, _, err := e.svc.Put(e.ctx, e.alice, empty, bytes.NewReader(nil), upload.Digest{}); err != nil || f.SHA256 != sha(nil) {
			t.Errorf("an empty Put = %v, %v", f, err)
		}
	})
}

func TestBatches(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b, err := e.svc.CreateBatch(e.ctx, e.alice, "three files")
		if err != nil {
			t.Fatal(err)
		}
		in := func(r *upload.CreateRequest) { r.BatchID = &b.ID }
		data := random(t, chunk+1)
		var sessions []*ingest.UploadSession
		for range 3 {
			sessions = append(sessions, e.create(e.alice, data, in))
		}
		if _, _, err := e.svc.CreateSession(e.ctx, e.bob, upload.CreateRequest{Filename: "x", SizeBytes: 1, BatchID: &b.ID}); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("a file into another user's batch: %v, want NOT_FOUND", err)
		}
		if _, err := e.svc.Abort(e.ctx, e.alice, sessions[1].ID); err != nil {
			t.Fatal(err)
		}
		if sealed, err := e.svc.SealBatch(e.ctx, e.alice, b.ID); err != nil || sealed.Status != ingest.BatchSealed {
			t.Fatalf("SealBatch = %v, %v", sealed, err)
		}
		for _, i := range []int{0, 2} {
			e.mustPut(e.alice, sessions[i], data, 1, 2)
			if _, err := e.svc.Complete(e.ctx, e.alice, sessions[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := e.svc.Batch(e.ctx, e.alice, b.ID)
		if got.Status != ingest.BatchPartial || got.TotalFiles != 3 || got.StoredCount != 2 || got.FailedCount != 1 {
			t.Errorf("batch = %s %d/%d/%d, want PARTIAL 3/2/1", got.Status, got.TotalFiles, got.StoredCount, got.FailedCount)
		}

		c, _ := e.svc.CreateBatch(e.ctx, e.alice, "to cancel")
		open := e.create(e.alice, data, func(r *upload.CreateRequest) { r.BatchID = &c.ID })
		e.mustPut(e.alice, open, data, 1)
		if _, err := e.svc.CancelBatch(e.ctx, e.bob, c.ID); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("another user cancels: %v", err)
		}
		if cancelled, err := e.svc.CancelBatch(e.ctx, e.alice, c.ID); err != nil || cancelled.Status != ingest.BatchCancelled {
			t.Fatalf("CancelBatch = %v, %v", cancelled, err)
		}
		if _, err := os.Stat(filepath.Join(e.root, ".uploads", open.ID.String())); !os.IsNotExist(err) {
			t.Errorf("a cancelled upload's temporary data is still there: %v", err)
		}
		if f, _ := e.svc.File(e.ctx, e.alice, open.FileID); f.FailureCode != ingest.EBatchCancelled || f.FailureReason != "batch cancelled" {
			t.Errorf("a cancelled upload's file failed with %s %q, want BATCH_CANCELLED \"batch cancelled\"", f.FailureCode, f.FailureReason)
		}
		if list, _ := e.svc.ListBatches(e.ctx, e.bob, readmodel.ListQuery{}); len(list.Items) != 0 {
			t.Errorf("bob lists %d batches", len(list.Items))
		}
	})
}

func TestBatchNamesAreCleanedAsFileNamesAre(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b, err := e.svc.CreateBatch(e.ctx, e.alice, "  q3\u202Ecod.exe\u200B\tphotos ")
		if err != nil {
			t.Fatal(err)
		}
		if stored, err := e.store.Batch(e.ctx, b.ID); err != nil || stored.Name != "q3cod.exephotos" {
			t.Errorf("the batch's stored name = %q, %v; want the text without its invisible characters", stored.Name, err)
		}
	})
}

func TestHostileFileNamesAreStoredSafely(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		for _, name := range []string{"../../etc/passwd", "a\x00b.txt", strings.Repeat("é", 2048), "..", "C:\\Windows\\system32\\x.dll", "\x1b[31mred",
			"invoice\u202Efdp.exe", "zero\u200Bwidth", "\u2066isolated\u2069", "\uFEFFbom"} {
			sess := e.create(e.alice, []byte("x"), func(r *upload.CreateRequest) { r.Filename = name })
			e.mustPut(e.alice, sess, []byte("x"), 1)
			f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(f.OriginalFilename, "/\\\x00\x1b\u202E\u200B\u2066\u2069\uFEFF") || len(f.OriginalFilename) > ingest.MaxFilenameLength || f.OriginalFilename == "" {
				t.Errorf("%q was kept as %q", name, f.OriginalFilename)
			}
			if f.StorageKey != ingest.ObjectKey("", f.ID, ingest.IDTime(f.ID)) {
				t.Errorf("key %q", f.StorageKey)
			}
		}
	})
}

func TestACompletionInterruptedAfterTheObjectIsFinishedLater(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 3*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 3, 1, 2)
		fresh, _ := e.svc.Session(e.ctx, e.alice, sess.ID)
		u := ingest.BlobUpload{SessionID: sess.ID, StorageID: fresh.StorageUploadID, Key: ingest.ObjectKey("", sess.FileID, ingest.IDTime(sess.FileID)),
			Size: int64(len(data)), ChunkSize: chunk}
		// What a process killed between making the object and committing leaves behind.
		if err := e.blobs.CompleteUpload(e.ctx, u, []ingest.WrittenPart{{Number: 1, Size: chunk}, {Number: 2, Size: chunk}, {Number: 3, Size: chunk}}); err != nil {
			t.Fatal(err)
		}
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || f.SHA256 != sha(data) {
			t.Fatalf("Complete after an interrupted completion = %v, %v", f, err)
		}
	})
}

func TestAnUploadEndedAfterAnInterruptedCompletionLeavesNoObject(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		for _, end := range []string{"abort", "expire"} {
			data := random(t, 2*chunk)
			sess := e.create(e.alice, data)
			e.mustPut(e.alice, sess, data, 1, 2)
			fresh, _ := e.svc.Session(e.ctx, e.alice, sess.ID)
			key := ingest.ObjectKey("", sess.FileID, ingest.IDTime(sess.FileID))
			u := ingest.BlobUpload{SessionID: sess.ID, StorageID: fresh.StorageUploadID, Key: key, Size: int64(len(data)), ChunkSize: chunk}
			// What a process killed between making the object and committing leaves behind.
			if err := e.blobs.CompleteUpload(e.ctx, u, []ingest.WrittenPart{{Number: 1, Size: chunk}, {Number: 2, Size: chunk}}); err != nil {
				t.Fatal(err)
			}
			if end == "abort" {
				if _, err := e.svc.Abort(e.ctx, e.alice, sess.ID); err != nil {
					t.Fatal(err)
				}
			} else {
				e.clock.Advance(25 * time.Hour)
				if n, err := e.svc.Sweep(e.ctx); err != nil || n != 1 {
					t.Fatalf("Sweep = %d, %v", n, err)
				}
			}
			if _, err := e.blobs.StatObject(e.ctx, key); ingest.ErrorCode(err) != ingest.ENotFound {
				t.Errorf("%s: the object of a file that will never be stored is kept: %v", end, err)
			}
		}
	})
}

func TestAnUploadWhoseDataTheStorageLostFailsAtCompletion(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 1, 2)
		if err := os.RemoveAll(filepath.Join(e.root, ".uploads", sess.ID.String())); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.ESessionNotActive)
		f, _ := e.svc.File(e.ctx, e.alice, sess.FileID)
		if got, _ := e.svc.Session(e.ctx, e.alice, sess.ID); got.Status != ingest.SessionFailed || f.Status != ingest.FileFailed ||
			f.FailureCode != ingest.ESessionNotActive || !strings.Contains(f.FailureReason, "storage") {
			t.Errorf("after the storage lost the data: session %s, file %s %s %q", got.Status, f.Status, f.FailureCode, f.FailureReason)
		}
		_, err = e.svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.ESessionNotActive)
	})
}

// TestAnEndedUploadAnswersFromItsFailureCode completes uploads that failed with reasons saying
// something else than their codes: the answer follows the code.
func TestAnEndedUploadAnswersFromItsFailureCode(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			code ingest.Code
			want ingest.Code
		}{
			{ingest.EChecksumMismatch, ingest.EChecksumMismatch},
			{ingest.ESessionExpired, ingest.ESessionExpired},
			{ingest.ESessionNotActive, ingest.ESessionNotActive},
		} {
			sess := e.create(e.alice, []byte("data"))
			reason := "expired" // the text an expiry writes, which no longer decides anything
			if tc.code == ingest.ESessionExpired {
				reason = "checksum mismatch: the text a mismatch writes"
			}
			if _, err := e.store.EndUpload(e.ctx, sess.ID, ingest.SessionFailed, tc.code, reason); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
			wantCode(t, err, tc.want)
			if tc.want == ingest.EChecksumMismatch && ingest.ErrorMessage(err) != reason {
				t.Errorf("a checksum mismatch answers %q, want its reason %q", ingest.ErrorMessage(err), reason)
			}
		}
	})
}

func TestRacingWritersOfOnePart(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		other := random(t, chunk)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, body := range [][]byte{part(data, sess, 1), other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.svc.PutPart(e.ctx, e.alice, sess.ID, 1, chunk, bytes.NewReader(body), upload.Digest{})
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither writer won: %v, %v", errs[0], errs[1])
		}
		winner := part(data, sess, 1)
		for i, err := range errs {
			if err != nil {
				wantCode(t, err, ingest.EPartAlreadyReceived)
			} else if i == 1 {
				winner = other
			}
		}
		e.mustPut(e.alice, sess, data, 2)
		f, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		want := sha(append(append([]byte{}, winner...), part(data, sess, 2)...))
		if err != nil || f.SHA256 != want {
			t.Errorf("the file hashes to %s (%v), want the winner's bytes %s", f.SHA256, err, want)
		}
	})
}

func TestChunkPlanning(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		sess := e.create(e.alice, nil, func(r *upload.CreateRequest) { r.SizeBytes = 100 << 30 })
		if sess.TotalParts > ingest.MaxParts || sess.ChunkSizeBytes%(1<<20) != 0 {
			t.Errorf("a 100 GiB file got %d parts of %d bytes", sess.TotalParts, sess.ChunkSizeBytes)
		}
		if _, _, err := e.svc.CreateSession(e.ctx, e.alice, upload.CreateRequest{Filename: "x", SizeBytes: 10, ChunkSizeBytes: 6 << 30}); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("a 6 GiB chunk: %v, want VALIDATION_FAILED", err)
		}
		if _, _, err := e.svc.CreateSession(e.ctx, e.alice, upload.CreateRequest{Filename: "x", SizeBytes: 300 << 30}); ingest.ErrorCode(err) != ingest.EPayloadTooLarge {
			t.Errorf("a file over the maximum: %v, want PAYLOAD_TOO_LARGE", err)
		}
		empty := e.create(e.alice, nil)
		f, err := e.svc.Complete(e.ctx, e.alice, empty.ID)
		if err != nil || f.SHA256 != sha(nil) || f.SizeBytes != 0 {
			t.Errorf("an empty file = %v, %v", f, err)
		}
	})
}

func TestTheHashDeclaredAtCompletionIsVerified(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk+3)
		t.Run("matching", func(t *testing.T) {
			sess := e.create(e.alice, data)
			e.mustPut(e.alice, sess, data, 1, 2, 3)
			f, err := e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, strings.ToUpper(sha(data)))
			if err != nil || f.Status != ingest.FileStored || f.SHA256 != sha(data) {
				t.Fatalf("CompleteDeclared = %v, %v; want the file STORED with the declared hash", f, err)
			}
			_, err = e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, sha([]byte("other")))
			wantCode(t, err, ingest.EChecksumMismatch)
			if f, _ := e.svc.File(e.ctx, e.alice, sess.FileID); f.Status != ingest.FileStored {
				t.Errorf("a stored file became %s after a later completion declared another hash", f.Status)
			}
			if _, err := e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, sha(data)); err != nil {
				t.Errorf("completing again with the right hash: %v", err)
			}
		})
		t.Run("mismatching", func(t *testing.T) {
			sess := e.create(e.alice, data)
			e.mustPut(e.alice, sess, data, 1, 2, 3)
			_, err := e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, sha([]byte("other")))
			wantCode(t, err, ingest.EChecksumMismatch)
			if d := ingest.ErrorDetails(err); d["declared_sha256"] != sha([]byte("other")) || d["computed_sha256"] != sha(data) {
				t.Errorf("details = %v", d)
			}
			if f, _ := e.svc.File(e.ctx, e.alice, sess.FileID); f.Status != ingest.FileFailed {
				t.Errorf("file is %s after a mismatch, want FAILED", f.Status)
			}
		})
		t.Run("contradicting the hash declared at creation", func(t *testing.T) {
			sess := e.create(e.alice, data, func(r *upload.CreateRequest) { r.SHA256 = sha(data) })
			e.mustPut(e.alice, sess, data, 1, 2, 3)
			_, err := e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, sha([]byte("other")))
			wantCode(t, err, ingest.EChecksumMismatch)
			if s, _ := e.svc.Session(e.ctx, e.alice, sess.ID); s.Status != ingest.SessionFailed {
				t.Errorf("session is %s, want FAILED", s.Status)
			}
		})
		t.Run("malformed", func(t *testing.T) {
			sess := e.create(e.alice, data)
			_, err := e.svc.CompleteDeclared(e.ctx, e.alice, sess.ID, "abc")
			wantCode(t, err, ingest.EValidation)
		})
	})
}

func TestMetadataGoesOnTheFile(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		meta := map[string]string{"relative_path": "photos/2026/ünï.jpg", "camera": "X-100"}
		data := random(t, 2*chunk+3)
		sess := e.create(e.alice, data, func(r *upload.CreateRequest) { r.Metadata = meta; r.IdempotencyKey = "meta" })
		if f, err := e.store.File(e.ctx, sess.FileID); err != nil || !maps.Equal(f.Metadata, meta) {
			t.Fatalf("the new file's metadata = %v, %v; want %v", f.Metadata, err, meta)
		}
		req := upload.CreateRequest{Filename: "data.bin", ContentType: "application/octet-stream", SizeBytes: int64(len(data)),
			IdempotencyKey: "meta", Metadata: maps.Clone(meta)}
		if again, created, err := e.svc.CreateSession(e.ctx, e.alice, req); err != nil || created || again.ID != sess.ID {
			t.Errorf("the same request again = %v, %v, %v; want the first session", again, created, err)
		}
		req.Metadata["camera"] = "X-200"
		_, _, err := e.svc.CreateSession(e.ctx, e.alice, req)
		wantCode(t, err, ingest.EIdempotencyConflict)

		e.mustPut(e.alice, sess, data, inOrder(sess.TotalParts)...)
		stored, err := e.svc.Complete(e.ctx, e.alice, sess.ID)
		if err != nil || !maps.Equal(stored.Metadata, meta) {
			t.Fatalf("Complete = %v, %v; want metadata %v", stored, err, meta)
		}
		events, err := e.store.FindEvents(e.ctx, readmodel.ListQuery{FileID: &stored.ID})
		if err != nil || len(events.Items) != 1 {
			t.Fatalf("events = %v, %v", events, err)
		}
		var payload ingest.FileStoredData
		if err := json.Unmarshal(events.Items[0].Payload, &payload); err != nil || !maps.Equal(payload.Metadata, meta) {
			t.Errorf("event metadata = %v, %v; want %v", payload.Metadata, err, meta)
		}

		small := random(t, 100)
		single := upload.CreateRequest{Filename: "one.bin", SizeBytes: int64(len(small)), Metadata: map[string]string{"k": "v"}}
		f, _, err := e.svc.Put(e.ctx, e.alice, single, bytes.NewReader(small), upload.Digest{})
		if err != nil || f.Metadata["k"] != "v" {
			t.Errorf("Put = %v, %v; want metadata k=v", f, err)
		}
		if got, err := e.store.File(e.ctx, f.ID); err != nil || got.Metadata["k"] != "v" {
			t.Errorf("the file Put stored = %v, %v", got, err)
		}
		whole, _, err := e.svc.PutWhole(e.ctx, e.alice, single, bytes.NewReader(small))
		if err != nil || whole.Metadata["k"] != "v" {
			t.Errorf("PutWhole = %v, %v; want metadata k=v", whole, err)
		}
		stream, err := e.svc.CreateStream(e.ctx, e.alice, upload.StreamRequest{CreateRequest: single})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.store.File(e.ctx, stream.FileID); err != nil || got.Metadata["k"] != "v" {
			t.Errorf("the streamed upload's file = %v, %v; want metadata k=v", got, err)
		}
	})
}

// TestAStreamRecordsItsFirstPartThenOncePerInterval sends a streamed upload of 6 parts in one
// Append and looks at its recorded offset as each part begins: the first part is recorded at
// once, later ones only once StreamRecordInterval has passed since the last record, and the end
// always; the file is stored with the right hash.
func TestAStreamRecordsItsFirstPartThenOncePerInterval(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 6*chunk)
		sess, err := e.svc.CreateStream(e.ctx, e.alice, upload.StreamRequest{CreateRequest: upload.CreateRequest{
			Filename: "stream.bin", SizeBytes: int64(len(data))}})
		if err != nil {
			t.Fatal(err)
		}
		interval := upload.DefaultConfig().StreamRecordInterval
		body := &watchedBody{data: data, onPart: func(n int) int64 {
			if n == 4 {
				e.clock.Advance(interval) // part 4 is the first to end an interval after part 1's record
			}
			s, err := e.store.UploadSession(e.ctx, sess.ID)
			if err != nil {
				t.Error(err)
				return -1
			}
			return s.OffsetBytes
		}}
		st, err := e.svc.Append(e.ctx, e.alice, sess.ID, upload.AppendRequest{Body: body, Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		// As parts 2 to 6 begin: part 1 recorded; parts 2 and 3 not (no time passed); part 4, which
		// ends after the clock moved, records everything up to it; then nothing until the end.
		want := []int64{chunk, chunk, chunk, 4 * chunk, 4 * chunk}
		if !slices.Equal(body.seen, want) {
			t.Errorf("recorded offsets as parts 2–6 began: %v, want %v", body.seen, want)
		}
		if st.Offset() != int64(len(data)) || st.File.Status != ingest.FileStored || st.File.SHA256 != sha(data) {
			t.Errorf("after the Append: offset %d, file %s %s; want %d, STORED, %s", st.Offset(), st.File.Status, st.File.SHA256, len(data), sha(data))
		}
	})
}

func TestMetadataBeyondItsLimitsCreatesNothing(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		tooMany := map[string]string{}
		for i := range ingest.MaxMetadataKeys + 1 {
			tooMany[fmt.Sprintf("key%d", i)] = "v"
		}
		for name, meta := range map[string]map[string]string{
			"33 keys":         tooMany,
			"a bad key":       {"a/b": "v"},
			"a long value":    {"v": strings.Repeat("x", ingest.MaxMetadataValueBytes+1)},
			"an invalid UTF8": {"v": "\xff"},
		} {
			req := upload.CreateRequest{Filename: "f.bin", SizeBytes: 10, Metadata: meta}
			_, _, err := e.svc.CreateSession(e.ctx, e.alice, req)
			wantCode(t, err, ingest.EValidation)
			_, _, err = e.svc.Put(e.ctx, e.alice, req, bytes.NewReader(make([]byte, 10)), upload.Digest{})
			wantCode(t, err, ingest.EValidation)
			_, err = e.svc.CreateStream(e.ctx, e.alice, upload.StreamRequest{CreateRequest: req})
			wantCode(t, err, ingest.EValidation)
			if files, err := e.store.FindFiles(e.ctx, readmodel.ListQuery{ExcludePartial: true}); err != nil || len(files.Items) != 0 {
				t.Errorf("%s: %v files, %v; want none", name, files, err)
			}
		}
	})
}

// watchedBody is a body that calls onPart as each part after the first begins, and keeps what it
// returns.
type watchedBody struct {
	data   []byte
	pos    int
	onPart func(n int) int64
	seen   []int64
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.pos == len(b.data) {
		return 0, io.EOF
	}
	if b.pos > 0 && b.pos%chunk == 0 && len(b.seen) < b.pos/chunk {
		b.seen = append(b.seen, b.onPart(b.pos/chunk+1))
	}
	n := copy(p[:min(len(p), chunk-b.pos%chunk)], b.data[b.pos:])
	b.pos += n
	return n, nil
}

// abortFirst is a blob store whose CompleteUpload runs abort before it completes: an abort that
// wins the race with a completion, between the completion's read of the session and its object.
type abortFirst struct {
	ingest.BlobStore
	abort func()
}

func (b *abortFirst) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	b.abort()
	return b.BlobStore.CompleteUpload(ctx, u, parts)
}

// TestACompletionThatLosesARaceWithAnAbortSaysSo: the completion answers that the upload was
// aborted, and nothing is logged as data the storage lost.
func TestACompletionThatLosesARaceWithAnAbortSaysSo(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		data := random(t, 2*chunk)
		sess := e.create(e.alice, data)
		e.mustPut(e.alice, sess, data, 1, 2)
		var logs strings.Builder
		blobs := &abortFirst{BlobStore: e.blobs}
		cfg := upload.DefaultConfig()
		cfg.DefaultChunk = chunk
		svc, err := upload.New(e.store, blobs, cfg, upload.WithClock(e.clock.Now), upload.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		blobs.abort = func() {
			if _, err := svc.Abort(e.ctx, e.alice, sess.ID); err != nil {
				t.Error(err)
			}
		}
		_, err = svc.Complete(e.ctx, e.alice, sess.ID)
		wantCode(t, err, ingest.ESessionNotActive)
		if !strings.Contains(ingest.ErrorMessage(err), string(ingest.SessionAborted)) || strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("the completion answered %v and logged:\n%s\nwant it to say the upload is ABORTED, and no ERROR", err, logs.String())
		}
	})
}

// storeFileFails is a store whose StoreFile fails while fail is set: a portal that stops between
// making a file's bytes durable and storing it.
type storeFileFails struct {
	*sqlstore.Store
	fail bool
}

func (s *storeFileFails) StoreFile(ctx context.Context, sessionID uuid.UUID, obj ingest.StoredObject) (*ingest.File, error) {
	if s.fail {
		return nil, errors.New("the portal stopped before storing the file")
	}
	return s.Store.StoreFile(ctx, sessionID, obj)
}

// TestAStreamWithAllItsBytesButNoFileIsCompletedWhenLookedAt: a tus client that finds an upload's
// offset at its size (HEAD) sends nothing more, so the look itself stores the file.
func TestAStreamWithAllItsBytesButNoFileIsCompletedWhenLookedAt(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		store := &storeFileFails{Store: e.store, fail: true}
		stopping, err := upload.New(store, e.blobs, upload.DefaultConfig(), upload.WithClock(e.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		data := random(t, 2*chunk+5)
		sess, err := stopping.CreateStream(e.ctx, e.alice, upload.StreamRequest{CreateRequest: upload.CreateRequest{
			Filename: "stream.bin", SizeBytes: int64(len(data))}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stopping.Append(e.ctx, e.alice, sess.ID, upload.AppendRequest{Body: bytes.NewReader(data), Length: int64(len(data))}); err == nil {
			t.Fatal("the Append stored its file although storing fails")
		}
		store.fail = false
		st, err := stopping.Stream(e.ctx, e.alice, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Session.Status != ingest.SessionComplete || st.File.Status != ingest.FileStored || st.File.SHA256 != sha(data) {
			t.Errorf("after a look: session %s, file %s %s; want COMPLETE, STORED, %s", st.Session.Status, st.File.Status, st.File.SHA256, sha(data))
		}
	})
}
