package azure_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/azure"
	"github.com/ingest-portal/ingest/blobtest"
	"github.com/ingest-portal/ingest/internal/testkit/azurite"
)

// open opens a store on a new container of srv through an azblob:// URL, as the portal does.
func open(t *testing.T, srv *azurite.Server, prefix string) (*azure.Store, string) {
	t.Helper()
	t.Setenv("AZURE_STORAGE_KEY", azurite.Key)
	name := srv.Container(t)
	s, err := azure.Open(context.Background(), "azblob://"+name+"/"+prefix+"?account="+azurite.Account+"&endpoint="+srv.Endpoint)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, name
}

func TestStore(t *testing.T) {
	srv := azurite.Start(t)
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

func TestAbortDiscardsTheUncommittedBlocks(t *testing.T) {
	srv := azurite.Start(t)
	s, name := open(t, srv, "p")
	ctx := context.Background()
	u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: ingest.ObjectKey("p", ingest.NewID(), time.Now()), Size: 8, ChunkSize: 4}
	id, err := s.CreateUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	u.StorageID = id
	part, err := s.WritePart(ctx, u, 1, strings.NewReader("abcd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AbortUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if left := srv.Blobs(t, name, "p/"); len(left) != 0 {
		t.Errorf("abort left blobs %v", left)
	}
	// The block is gone with the blob: a completion naming it fails.
	last, err := s.WritePart(ctx, u, 2, strings.NewReader("efgh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteUpload(ctx, u, []ingest.WrittenPart{part, last}); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("CompleteUpload after abort: %v, want NOT_FOUND", err)
	}
}

func TestCompletionCommitsTheWritesItIsGiven(t *testing.T) {
	srv := azurite.Start(t)
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

func TestOpenRefusesBadURLs(t *testing.T) {
	t.Setenv("AZURE_STORAGE_KEY", azurite.Key)
	for _, bad := range []string{
		"gs://c/p?account=a", "azblob://?account=a", "azblob://u:pw@c/p?account=a", "azblob://c:1/p?account=a",
		"azblob://c/p", "azblob://c/a//b?account=a", "azblob://c/p?account=a&region=x", "azblob://c/p?account=a&endpoint=ftp://h",
	} {
		if _, err := azure.Open(context.Background(), bad); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("Open(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
	s, err := azure.Open(context.Background(), "azblob://files/ingest/?account=acct")
	if err != nil || s.Bucket() != "files" || s.Prefix() != "ingest" || s.Backend() != ingest.StorageAzure {
		t.Errorf("Open = %v; want container files, prefix ingest", err)
	}
	t.Setenv("AZURE_STORAGE_KEY", "")
	if _, err := azure.Open(context.Background(), "azblob://files?account=acct"); ingest.ErrorCode(err) != ingest.EValidation || !strings.Contains(err.Error(), "AZURE_STORAGE_KEY") {
		t.Errorf("Open without a key = %v, want VALIDATION_FAILED naming AZURE_STORAGE_KEY", err)
	}
}
