package reconcile_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
	"github.com/ingest-portal/ingest/reconcile"
	"github.com/ingest-portal/ingest/sqlstore"
)

const chunk = 5 << 20 // S3's smallest part

// rig is a store and a blob store holding one of each thing the reconciler must tell apart.
type rig struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlstore.Store
	blobs  ingest.BlobStore
	user   *ingest.User
	stored string // the object of a STORED file
	orphan string // an object no row points to
	active ingest.BlobUpload
	ended  ingest.BlobUpload // an aborted session whose temporary data was left behind
}

func newRig(t *testing.T, dialect, storage string) *rig {
	t.Helper()
	r := &rig{t: t, ctx: context.Background(), store: testdb.Store(t, dialect)}
	switch storage {
	case "local":
		var err error
		if r.blobs, err = local.New(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	case "s3":
		gw := versitygw.Start(t)
		r.blobs = s3.New(gw.Client(), gw.NewBucket(t), "portal")
	}
	r.user = &ingest.User{Username: "alice"}
	if err := r.store.CreateUser(r.ctx, r.user); err != nil {
		t.Fatal(err)
	}
	r.stored = r.storedFile()
	r.orphan = r.put(ingest.NewID())
	r.active = r.session()
	r.ended = r.session()
	if _, err := r.store.EndUpload(r.ctx, r.ended.SessionID, ingest.SessionAborted, ingest.EAborted, "client"); err != nil {
		t.Fatal(err)
	}
	return r
}

// put stores a small object at the key of the file id and returns the key.
func (r *rig) put(fileID uuid.UUID) string {
	r.t.Helper()
	key := ingest.ObjectKey(r.blobs.Prefix(), fileID, ingest.IDTime(fileID))
	if err := r.blobs.PutObject(r.ctx, key, bytes.NewReader([]byte("bytes")), 5); err != nil {
		r.t.Fatal(err)
	}
	return key
}

func (r *rig) storedFile() string {
	r.t.Helper()
	f := &ingest.File{ID: ingest.NewID(), SizeBytes: 5, OriginalFilename: "kept.txt", ContentType: "text/plain", UploadedByID: r.user.ID}
	key := r.put(f.ID)
	sum := sha256.Sum256([]byte("bytes"))
	s := &ingest.UploadSession{FileID: f.ID, ChunkSizeBytes: 5, TotalParts: 1, UploadedByID: r.user.ID}
	obj := ingest.StoredObject{SHA256: hex.EncodeToString(sum[:]), SizeBytes: 5, Backend: r.blobs.Backend(), Bucket: r.blobs.Bucket(), Key: key}
	if err := r.store.RecordStoredUpload(r.ctx, f, s, ingest.PartReceipt{SizeBytes: 5}, obj, nil); err != nil {
		r.t.Fatal(err)
	}
	return key
}

// session records an upload session whose first part is in the blob store.
func (r *rig) session() ingest.BlobUpload {
	r.t.Helper()
	f := &ingest.File{ID: ingest.NewID(), SizeBytes: 2 * chunk, OriginalFilename: "big.bin", ContentType: "application/octet-stream", UploadedByID: r.user.ID}
	s := &ingest.UploadSession{ID: ingest.NewID(), FileID: f.ID, ChunkSizeBytes: chunk, TotalParts: 2, UploadedByID: r.user.ID,
		ExpiresAt: time.Now().Add(time.Hour)}
	u := ingest.BlobUpload{SessionID: s.ID, Key: ingest.ObjectKey(r.blobs.Prefix(), f.ID, ingest.IDTime(f.ID)), Size: 2 * chunk, ChunkSize: chunk}
	var err error
	if u.StorageID, err = r.blobs.CreateUpload(r.ctx, u); err != nil {
		r.t.Fatal(err)
	}
	s.StorageUploadID = u.StorageID
	if _, err := r.blobs.WritePart(r.ctx, u, 1, bytes.NewReader(make([]byte, chunk))); err != nil {
		r.t.Fatal(err)
	}
	if err := r.store.CreateUpload(r.ctx, f, s, ingest.UploadQuota{}); err != nil {
		r.t.Fatal(err)
	}
	return u
}

// exists reports whether the object at key is there.
func (r *rig) exists(key string) bool {
	r.t.Helper()
	_, err := r.blobs.StatObject(r.ctx, key)
	if err != nil && ingest.ErrorCode(err) != ingest.ENotFound {
		r.t.Fatal(err)
	}
	return err == nil
}

// hasTemporary reports whether the blob store holds temporary data of u.
func (r *rig) hasTemporary(u ingest.BlobUpload) bool {
	r.t.Helper()
	found := false
	err := r.blobs.(ingest.BlobInventory).ListTemporary(r.ctx, func(t ingest.TemporaryData) error {
		found = found || t.SessionID == u.SessionID || (t.Key != "" && t.Key == u.Key)
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return found
}

// run makes a pass of a reconciler whose clock is ahead by ahead, with a grace of an hour.
func (r *rig) run(ahead time.Duration, dryRun bool) (reconcile.Result, []reconcile.Removal) {
	r.t.Helper()
	rec, err := reconcile.New(r.store, r.blobs, time.Hour, reconcile.WithClock(func() time.Time { return time.Now().Add(ahead) }))
	if err != nil {
		r.t.Fatal(err)
	}
	var removed []reconcile.Removal
	res, err := rec.Run(r.ctx, dryRun, func(rm reconcile.Removal) { removed = append(removed, rm) })
	if err != nil {
		r.t.Fatal(err)
	}
	return res, removed
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	for _, b := range []struct{ dialect, storage string }{{"sqlite", "local"}, {"postgres", "local"}, {"sqlite", "s3"}, {"postgres", "s3"}} {
		t.Run(b.dialect+"/"+b.storage, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, b.dialect, b.storage)
			everythingThere := func(when string) {
				t.Helper()
				if !r.exists(r.stored) || !r.exists(r.orphan) || !r.hasTemporary(r.active) || !r.hasTemporary(r.ended) {
					t.Fatalf("%s: stored %v, orphan %v, active's temporary data %v, ended's %v; want all there", when,
						r.exists(r.stored), r.exists(r.orphan), r.hasTemporary(r.active), r.hasTemporary(r.ended))
				}
			}

			if res, removed := r.run(0, false); res != (reconcile.Result{}) {
				t.Errorf("within the grace period: %+v %+v, want nothing removed", res, removed)
			}
			everythingThere("within the grace period")

			res, removed := r.run(2*time.Hour, true)
			if res.Objects != 1 || res.Temporary < 1 || len(removed) != res.Objects+res.Temporary || removed[0].Name != r.orphan {
				t.Errorf("dry run: %+v %+v, want the orphan and the ended upload's temporary data", res, removed)
			}
			everythingThere("after a dry run")

			if got, _ := r.run(2*time.Hour, false); got != res {
				t.Errorf("the pass removed %+v, the dry run said %+v", got, res)
			}
			if r.exists(r.orphan) || r.hasTemporary(r.ended) {
				t.Errorf("after the pass: the orphan is there %v, the ended upload's temporary data %v; want both gone",
					r.exists(r.orphan), r.hasTemporary(r.ended))
			}
			if !r.exists(r.stored) || !r.hasTemporary(r.active) {
				t.Errorf("after the pass: the stored file's object is there %v, the active upload's data %v; want both",
					r.exists(r.stored), r.hasTemporary(r.active))
			}
			if _, err := r.blobs.WritePart(r.ctx, r.active, 2, bytes.NewReader(make([]byte, chunk))); err != nil {
				t.Errorf("the upload in progress takes its next part: %v", err)
			}
			if res, removed := r.run(2*time.Hour, false); res != (reconcile.Result{}) {
				t.Errorf("a second pass: %+v %+v, want nothing more", res, removed)
			}
		})
	}
}
