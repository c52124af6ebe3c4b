package gcs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/gcs"
	"github.com/ingest-portal/ingest/blobtest"
	"github.com/ingest-portal/ingest/internal/testkit/fakegcs"
)

// open opens a store on a new bucket of srv through a gs:// URL, as the portal does.
func open(t *testing.T, srv *fakegcs.Server, prefix string) (*gcs.Store, string) {
	t.Helper()
	bucket := srv.Bucket(t)
	s, err := gcs.Open(context.Background(), "gs://"+bucket+"/"+prefix+"?endpoint="+srv.URL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, bucket
}

func TestStore(t *testing.T) {
	srv := fakegcs.Start(t)
	for _, prefix := range []string{"", "ingest/files"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			blobtest.Run(t, blobtest.Harness{
				New: func(t *testing.T) ingest.BlobStore {
					s, _ := open(t, srv, prefix)
					return s
				},
				ChunkSize: 64 << 10,
			})
		})
	}
}

func TestMoreThan32PartsComposeInGroups(t *testing.T) {
	srv := fakegcs.Start(t)
	s, bucket := open(t, srv, "p")
	const chunk, parts = 1 << 10, 3*32 + 1 // four groups, then the groups
	data := make([]byte, chunk*parts-100)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: ingest.ObjectKey("p", ingest.NewID(), time.Now()), Size: int64(len(data)), ChunkSize: chunk}
	id, err := s.CreateUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	u.StorageID = id
	written := make([]ingest.WrittenPart, u.TotalParts())
	for n := 1; n <= u.TotalParts(); n++ {
		off := u.PartOffset(n)
		if written[n-1], err = s.WritePart(ctx, u, n, bytes.NewReader(data[off:off+u.PartSize(n)])); err != nil {
			t.Fatalf("WritePart %d: %v", n, err)
		}
	}
	if err := s.CompleteUpload(ctx, u, written); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	r, err := s.ReadObject(ctx, u.Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object reads %d bytes (%v), want the %d written", len(got), err, len(data))
	}
	if left := srv.Objects(t, bucket, ingest.UploadPrefix("p", u.SessionID)); len(left) != 0 {
		t.Errorf("completion left %d temporary objects, e.g. %s", len(left), left[0])
	}
}

func TestCompletionComposesTheWritesItIsGiven(t *testing.T) {
	srv := fakegcs.Start(t)
	s, _ := open(t, srv, "")
	ctx := context.Background()
	u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: ingest.ObjectKey("", ingest.NewID(), time.Now()), Size: 4, ChunkSize: 4}
	id, err := s.CreateUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	u.StorageID = id
	first, err := s.WritePart(ctx, u, 1, strings.NewReader("abcd"))
	if err != nil {
		t.Fatal(err)
	}
	// A write of the part racing the completion does not change the bytes the caller hashed.
	if _, err := s.WritePart(ctx, u, 1, strings.NewReader("wxyz")); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteUpload(ctx, u, []ingest.WrittenPart{first}); err != nil {
		t.Fatal(err)
	}
	r, err := s.ReadObject(ctx, u.Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || string(got) != "abcd" {
		t.Errorf("object = %q, %v; want the first write's abcd", got, err)
	}
}

func TestParseURL(t *testing.T) {
	for _, bad := range []string{
		"s3://b/p", "gs://", "gs://user:pw@b/p", "gs://b:443/p", "gs://b/a//c", "gs://b/../c", "gs://b/p?region=x",
		"gs://b/p?endpoint=ftp://h", "gs://b/p?endpoint=http://h/path", "gs://b/p?endpoint=", "gs://b/p#f",
	} {
		if _, err := gcs.Open(context.Background(), bad); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("Open(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
	s, err := gcs.Open(context.Background(), "gs://files/ingest/?endpoint=http://127.0.0.1:1/")
	if err != nil || s.Bucket() != "files" || s.Prefix() != "ingest" || s.Backend() != ingest.StorageGCS {
		t.Errorf("Open = %v; want bucket files, prefix ingest", err)
	}
}

func TestPingFailsForAMissingBucket(t *testing.T) {
	srv := fakegcs.Start(t)
	s, err := gcs.Open(context.Background(), "gs://no-such-bucket?endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping succeeded for a bucket that does not exist")
	}
}
