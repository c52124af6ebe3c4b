package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
)

// groupFixture is a store with a user and an OPEN batch, for tests of concurrent writes.
type groupFixture struct {
	t       *testing.T
	ctx     context.Context
	dialect string
	store   *sqlstore.Store
	user    *ingest.User
	batch   *ingest.Batch
}

func newGroupFixture(t *testing.T, dialect string) *groupFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	f := &groupFixture{t: t, ctx: ctx, dialect: dialect, store: testdb.Store(t, dialect)}
	f.user = &ingest.User{Username: "writer"}
	if err := f.store.CreateUser(ctx, f.user); err != nil {
		t.Fatal(err)
	}
	f.batch = &ingest.Batch{CreatedByID: f.user.ID, Name: "grouped"}
	if err := f.store.CreateBatch(ctx, f.batch); err != nil {
		t.Fatal(err)
	}
	return f
}

// newUpload returns an upload of 10 bytes in the fixture's batch, with the idempotency key.
func (f *groupFixture) newUpload(key string) (*ingest.File, *ingest.UploadSession) {
	file := &ingest.File{ID: ingest.NewID(), SizeBytes: 10, OriginalFilename: "a.bin", ContentType: "application/octet-stream",
		UploadedByID: f.user.ID, BatchID: &f.batch.ID}
	sess := &ingest.UploadSession{ID: ingest.NewID(), FileID: file.ID, ChunkSizeBytes: 10, TotalParts: 1,
		IdempotencyKey: key, UploadedByID: f.user.ID, ExpiresAt: time.Now().Add(time.Hour)}
	return file, sess
}

// totalFiles returns the batch's total_files as committed.
func (f *groupFixture) totalFiles() int {
	f.t.Helper()
	b, err := f.store.Batch(f.ctx, f.batch.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.TotalFiles
}

// awaitQueued waits until n writes are queued behind a held turn; on PostgreSQL, where writes
// are not grouped, there is nothing to wait for.
func (f *groupFixture) awaitQueued(n int) {
	f.t.Helper()
	if f.dialect != "sqlite" {
		return
	}
	for sqlstore.QueuedWrites(f.store) < n {
		if f.ctx.Err() != nil {
			f.t.Fatalf("%d writes queued, want %d", sqlstore.QueuedWrites(f.store), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupedWriteFailsAlone: when one write of a group fails after it has changed rows, its
// changes are undone and the others' are committed. Each upload counts itself in the batch before
// inserting its session; the one whose idempotency key is taken must not stay counted.
func TestGroupedWriteFailsAlone(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, dialect)
			first, firstSess := f.newUpload("taken")
			if err := f.store.CreateUpload(f.ctx, first, firstSess, ingest.UploadQuota{}); err != nil {
				t.Fatal(err)
			}
			release := sqlstore.HoldWriters(f.store)
			const n = 5
			files := make([]*ingest.File, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				key := ""
				if i == 2 {
					key = "taken"
				}
				file, sess := f.newUpload(key)
				files[i] = file
				wg.Go(func() { errs[i] = f.store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}) })
			}
			f.awaitQueued(n)
			release()
			wg.Wait()
			for i, err := range errs {
				_, getErr := f.store.File(f.ctx, files[i].ID)
				if i == 2 {
					if ingest.ErrorCode(err) != ingest.EIdempotencyConflict {
						t.Errorf("upload with a taken key: %v, want IDEMPOTENCY_CONFLICT", err)
					}
					if ingest.ErrorCode(getErr) != ingest.ENotFound {
						t.Errorf("the refused upload's file is there: %v", getErr)
					}
					continue
				}
				if err != nil || getErr != nil {
					t.Errorf("upload %d: %v; its file: %v", i, err, getErr)
				}
			}
			if got, want := f.totalFiles(), n; got != want {
				t.Errorf("batch total_files = %d, want %d (the first upload and the %d of the group that succeeded)", got, want, n-1)
			}
		})
	}
}

// TestManyConcurrentWritesAllFinish: 80 writes at once on a fresh store all commit. On
// PostgreSQL that is more transactions than pooled connections, each running statements it has
// never run before: preparing them must not need a second connection from the exhausted pool.
func TestManyConcurrentWritesAllFinish(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, dialect)
			const n = 80
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				file, sess := f.newUpload(fmt.Sprintf("key-%d", i))
				wg.Go(func() { errs[i] = f.store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got := f.totalFiles(); got != n {
				t.Errorf("batch total_files = %d, want %d", got, n)
			}
		})
	}
}

// TestPanickingWriteDoesNotHangOthers: a write that panics panics in its caller's goroutine; the
// writes grouped with it return (committed, or failed with nothing of them written), and the
// store goes on taking writes.
func TestPanickingWriteDoesNotHangOthers(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, dialect)
			insert := func(exec func(string, ...any) error, id uuid.UUID, name string) error {
				return exec(`INSERT INTO users (id, created_at, updated_at, username, is_admin) VALUES ($1, $2, $2, $3, false)`,
					id, time.Now().UTC().Format(time.RFC3339Nano), name)
			}
			release := sqlstore.HoldWriters(f.store)
			const n = 4
			ids := make([]uuid.UUID, n)
			errs := make([]error, n)
			var recovered any
			var wg sync.WaitGroup
			for i := range n {
				ids[i] = ingest.NewID()
				wg.Go(func() {
					defer func() {
						if i == 1 {
							recovered = recover()
						}
					}()
					errs[i] = sqlstore.RunWrite(f.ctx, f.store, func(exec func(string, ...any) error) error {
						if err := insert(exec, ids[i], fmt.Sprintf("user%d", i)); err != nil {
							return err
						}
						if i == 1 {
							panic("write 1 panics")
						}
						return nil
					})
				})
			}
			f.awaitQueued(n)
			release()
			wg.Wait()
			if recovered != "write 1 panics" {
				t.Errorf("the panicking write's caller recovered %v", recovered)
			}
			for i, id := range ids {
				_, err := f.store.User(f.ctx, id)
				switch {
				case i == 1 && err == nil:
					t.Errorf("the panicking write's row was committed")
				case i != 1 && (errs[i] == nil) != (err == nil):
					t.Errorf("write %d returned %v, but its row: %v", i, errs[i], err)
				}
			}
			after := &ingest.User{Username: "after"}
			if err := f.store.CreateUser(f.ctx, after); err != nil {
				t.Errorf("a write after the panic: %v", err)
			}
		})
	}
}

// TestCancelledWriteLeavesItsGroup: a write whose caller gave up while it waited is not run; the
// writes grouped with it commit.
func TestCancelledWriteLeavesItsGroup(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, dialect)
			release := sqlstore.HoldWriters(f.store)
			gone, cancel := context.WithCancel(f.ctx)
			goneFile, goneSess := f.newUpload("")
			keptFile, keptSess := f.newUpload("")
			var goneErr, keptErr error
			var wg sync.WaitGroup
			wg.Go(func() { goneErr = f.store.CreateUpload(gone, goneFile, goneSess, ingest.UploadQuota{}) })
			f.awaitQueued(1)
			wg.Go(func() { keptErr = f.store.CreateUpload(f.ctx, keptFile, keptSess, ingest.UploadQuota{}) })
			f.awaitQueued(2)
			cancel()
			release()
			wg.Wait()
			if !errors.Is(goneErr, context.Canceled) {
				t.Errorf("the cancelled write returned %v, want context.Canceled", goneErr)
			}
			if keptErr != nil {
				t.Errorf("the write grouped with it: %v", keptErr)
			}
			if _, err := f.store.File(f.ctx, goneFile.ID); ingest.ErrorCode(err) != ingest.ENotFound {
				t.Errorf("the cancelled write's file: %v, want NOT_FOUND", err)
			}
			if got := f.totalFiles(); got != 1 {
				t.Errorf("batch total_files = %d, want 1", got)
			}
		})
	}
}

// TestAGroupWaitsForObjectsOnlyBeforeItsCommit: a stored upload's object is waited for after the
// statements of every write of its group, not between them, so the writer's turn is not spent
// idle while the disk flushes; and an object whose flush fails fails its whole group, of which
// nothing is then written.
func TestAGroupWaitsForObjectsOnlyBeforeItsCommit(t *testing.T) {
	t.Parallel()
	f := newGroupFixture(t, "sqlite")
	record := func(file *ingest.File, sess *ingest.UploadSession, flush ingest.Pending) error {
		obj := ingest.StoredObject{SHA256: strings.Repeat("a", 64), SizeBytes: 10, Backend: ingest.StorageLocal, Key: "objects/" + file.ID.String()}
		return f.store.RecordStoredUpload(f.ctx, file, sess, ingest.PartReceipt{SizeBytes: 10}, obj, flush)
	}
	// group queues, behind a held turn, an upload whose object's flush runs flush and then a
	// write that runs after it in the same group, and returns both results.
	group := func(flush func(laterRan <-chan struct{}) error) (file *ingest.File, user *ingest.User, uploadErr, laterErr error) {
		release := sqlstore.HoldWriters(f.store)
		laterRan := make(chan struct{})
		file, sess := f.newUpload("")
		user = &ingest.User{Username: "after-" + file.ID.String()}
		var wg sync.WaitGroup
		wg.Go(func() {
			uploadErr = record(file, sess, pendingFunc(func() error { return flush(laterRan) }))
		})
		f.awaitQueued(1)
		wg.Go(func() {
			laterErr = sqlstore.RunWrite(f.ctx, f.store, func(exec func(string, ...any) error) error {
				err := exec(`INSERT INTO users (id, created_at, updated_at, username) VALUES ($1, $2, $2, $3)`,
					ingest.NewID(), sqlstore.At(time.Now()), user.Username)
				close(laterRan)
				return err
			})
		})
		f.awaitQueued(2)
		release()
		wg.Wait()
		return file, user, uploadErr, laterErr
	}

	file, _, uploadErr, laterErr := group(func(laterRan <-chan struct{}) error {
		select {
		case <-laterRan:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the object was waited for before the next write of its group ran")
		}
	})
	if uploadErr != nil || laterErr != nil {
		t.Fatalf("upload: %v; the write after it: %v", uploadErr, laterErr)
	}
	if got, err := f.store.File(f.ctx, file.ID); err != nil || got.Status != ingest.FileStored {
		t.Errorf("the upload's file: %+v, %v; want it STORED", got, err)
	}

	failed, user, uploadErr, laterErr := group(func(<-chan struct{}) error { return errors.New("the disk failed to flush") })
	if uploadErr == nil || laterErr == nil {
		t.Fatalf("a group with an object whose flush failed: upload %v, the write after it %v; want both to fail", uploadErr, laterErr)
	}
	if _, err := f.store.File(f.ctx, failed.ID); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("the file whose object's flush failed: %v, want NOT_FOUND", err)
	}
	if _, err := f.store.UserByUsername(f.ctx, user.Username); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("the write grouped with it: %v, want NOT_FOUND (its group did not commit)", err)
	}
}

// pendingFunc is an object's pending flush that runs a test's function.
type pendingFunc func() error

func (p pendingFunc) Wait() error { return p() }
