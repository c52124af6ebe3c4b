package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// fixture holds an Env and the test, so that the suite's helpers read as one line each.
type fixture struct {
	*Env
	t   *testing.T
	ctx context.Context
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	return &fixture{Env: open(t, NewClock()), t: t, ctx: context.Background()}
}

func (f *fixture) user(admin bool) *ingest.User {
	f.t.Helper()
	u := &ingest.User{Username: "user-" + uuid.NewString()[24:], IsAdmin: admin}
	if err := f.Store.CreateUser(f.ctx, u); err != nil {
		f.t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func (f *fixture) batch(owner *ingest.User) *ingest.Batch {
	f.t.Helper()
	b := &ingest.Batch{Name: "batch", CreatedByID: owner.ID}
	if err := f.Store.CreateBatch(f.ctx, b); err != nil {
		f.t.Fatalf("CreateBatch: %v", err)
	}
	return b
}

// upload registers a file of size bytes in parts of chunk bytes, in batch (nil for none).
func (f *fixture) upload(owner *ingest.User, batch *ingest.Batch, size, chunk int64) (*ingest.File, *ingest.UploadSession) {
	f.t.Helper()
	file, sess := newUpload(f, owner, batch, size, chunk)
	if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
		f.t.Fatalf("CreateUpload: %v", err)
	}
	return file, sess
}

func newUpload(f *fixture, owner *ingest.User, batch *ingest.Batch, size, chunk int64) (*ingest.File, *ingest.UploadSession) {
	file := &ingest.File{
		SizeBytes:        size,
		OriginalFilename: "report.csv",
		ContentType:      "text/csv",
		UploadedByID:     owner.ID,
	}
	if batch != nil {
		file.BatchID = &batch.ID
	}
	sess := &ingest.UploadSession{
		ChunkSizeBytes: chunk,
		TotalParts:     ingest.TotalParts(size, chunk),
		UploadedByID:   owner.ID,
		ExpiresAt:      f.Clock.Now().Add(24 * time.Hour),
	}
	return file, sess
}

// receiveAll begins and receives every part of the session, in order.
func (f *fixture) receiveAll(sess *ingest.UploadSession, size int64) {
	f.t.Helper()
	for n := 1; n <= sess.TotalParts; n++ {
		f.receive(sess, n, ingest.PartSize(size, sess.ChunkSizeBytes, n))
	}
}

func (f *fixture) receive(sess *ingest.UploadSession, n int, size int64) *ingest.Part {
	f.t.Helper()
	if _, err := f.Store.BeginPart(f.ctx, &ingest.Part{SessionID: sess.ID, PartNumber: n, TempKey: tempKey(sess, n), SizeBytes: size}); err != nil {
		f.t.Fatalf("BeginPart %d: %v", n, err)
	}
	p, err := f.Store.ReceivePart(f.ctx, sess.ID, n, ingest.PartReceipt{SizeBytes: size, CRC32C: uint32(n)}, f.Clock.Now().Add(24*time.Hour))
	if err != nil {
		f.t.Fatalf("ReceivePart %d: %v", n, err)
	}
	return p
}

func tempKey(sess *ingest.UploadSession, n int) string {
	return fmt.Sprintf(".uploads/%s/%d", sess.ID, n)
}

// object is a valid stored object for a file of size bytes.
func object(size int64) ingest.StoredObject {
	return ingest.StoredObject{SHA256: hashOf(fmt.Sprint(size)), SizeBytes: size, Backend: ingest.StorageLocal, Key: "blobs/" + uuid.NewString()}
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// store uploads a file of size bytes in full and completes it.
func (f *fixture) store(owner *ingest.User, batch *ingest.Batch, size int64) *ingest.File {
	f.t.Helper()
	_, sess := f.upload(owner, batch, size, 4)
	f.receiveAll(sess, size)
	file, err := f.Store.StoreFile(f.ctx, sess.ID, object(size))
	if err != nil {
		f.t.Fatalf("StoreFile: %v", err)
	}
	return file
}

func (f *fixture) getBatch(id uuid.UUID) *ingest.Batch {
	f.t.Helper()
	b, err := f.Store.Batch(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Batch: %v", err)
	}
	return b
}

func (f *fixture) getFile(id uuid.UUID) *ingest.File {
	f.t.Helper()
	file, err := f.Store.File(f.ctx, id)
	if err != nil {
		f.t.Fatalf("File: %v", err)
	}
	return file
}

func (f *fixture) getSession(id uuid.UUID) *ingest.UploadSession {
	f.t.Helper()
	s, err := f.Store.UploadSession(f.ctx, id)
	if err != nil {
		f.t.Fatalf("UploadSession: %v", err)
	}
	return s
}

func (f *fixture) getEvent(id uuid.UUID) *ingest.OutboxEvent {
	f.t.Helper()
	e, err := f.Store.OutboxEvent(f.ctx, id)
	if err != nil {
		f.t.Fatalf("OutboxEvent: %v", err)
	}
	return e
}

// exec runs raw SQL that must succeed.
func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.DB.ExecContext(f.ctx, query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// refused runs raw SQL that the database must refuse.
func (f *fixture) refused(query string, args ...any) {
	f.t.Helper()
	if _, err := f.DB.ExecContext(f.ctx, query, args...); err == nil {
		f.t.Fatalf("the database accepted %s %v", query, args)
	}
}

// count runs a raw count query.
func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.DB.QueryRowContext(f.ctx, query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// sqlTime renders a time the way both databases accept in raw SQL.
func sqlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code ingest.Code) {
	t.Helper()
	if got := ingest.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantTransitionError fails unless err is a *TransitionError from `from` with code.
func wantTransitionError(t *testing.T, err error, from string, code ingest.Code) {
	t.Helper()
	var te *ingest.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v (%T), want a *ingest.TransitionError", err, err)
	}
	if te.From != from || te.Code != code {
		t.Fatalf("transition error from %s with %s, want from %s with %s", te.From, te.Code, from, code)
	}
}

func asTransitionError(err error, te **ingest.TransitionError) bool { return errors.As(err, te) }
