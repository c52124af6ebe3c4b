package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/client"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

// newPortal starts a whole portal (real database, local storage, the real handler) over HTTP and
// returns a client of it with a user's token.
func newPortal(t *testing.T, dialect string) *client.Client {
	t.Helper()
	store := testdb.Store(t, dialect)
	blobs, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := upload.New(store, blobs, upload.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc, Users: store, Grants: store, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	u := &ingest.User{Username: "alice"}
	if err := store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	tok, secret := ingest.NewAPIToken(u.ID, "test")
	if err := store.CreateAPIToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// forEachPortal runs test with a client of a portal on each database.
func forEachPortal(t *testing.T, test func(t *testing.T, c *client.Client)) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			test(t, newPortal(t, dialect))
		})
	}
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func bytesBody(b []byte) client.Body {
	return client.Body{Size: int64(len(b)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

func wantCode(t *testing.T, err error, code ingest.Code) {
	t.Helper()
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != code {
		t.Fatalf("error = %v, want a *client.Error %s", err, code)
	}
}

func TestTheClientDrivesAWholeUpload(t *testing.T) {
	t.Parallel()
	forEachPortal(t, func(t *testing.T, c *client.Client) {
		ctx := t.Context()
		data := []byte("0123456789")

		batch, err := c.CreateBatch(ctx, "scans")
		if err != nil || batch.Status != ingest.BatchOpen || batch.Name != "scans" {
			t.Fatalf("CreateBatch = %+v, %v", batch, err)
		}
		req := client.CreateUploadRequest{Filename: "digits.txt", ContentType: "text/plain", SizeBytes: int64(len(data)),
			ChunkSizeBytes: 4, BatchID: &batch.ID, IdempotencyKey: "digits"}
		up, created, err := c.CreateUpload(ctx, req)
		if err != nil || !created || up.TotalParts != 3 || up.ChunkSizeBytes != 4 {
			t.Fatalf("CreateUpload = %+v, %v, %v", up, created, err)
		}
		again, created, err := c.CreateUpload(ctx, req)
		if err != nil || created || again.ID != up.ID {
			t.Fatalf("CreateUpload again = %+v, %v, %v; want the same upload, not created", again, created, err)
		}
		_, err = c.Complete(ctx, up.ID, "")
		wantCode(t, err, ingest.EMissingParts)

		for _, n := range []int{3, 1, 2} {
			off, size := up.PartRange(n, int64(len(data)))
			b := bytesBody(data[off : off+size])
			if n == 1 {
				sum := sha256.Sum256(data[off : off+size])
				b.SHA256 = sum[:]
			}
			if p, err := c.PutPart(ctx, up.ID, n, b); err != nil || p.PartNumber != n || p.Status != ingest.PartReceived {
				t.Fatalf("PutPart %d = %+v, %v", n, p, err)
			}
		}
		_, err = c.PutPart(ctx, up.ID, 1, bytesBody([]byte("abcd")))
		wantCode(t, err, ingest.EPartAlreadyReceived)
		parts, err := c.Parts(ctx, up.ID)
		if err != nil || len(parts) != 3 {
			t.Fatalf("Parts = %v, %v", parts, err)
		}
		if got, err := c.Upload(ctx, up.ID); err != nil || got.ReceivedPartsCount != 3 {
			t.Fatalf("Upload = %+v, %v", got, err)
		}

		_, err = c.Complete(ctx, up.ID, "nothex")
		wantCode(t, err, ingest.EValidation)
		f, err := c.Complete(ctx, up.ID, hexSHA256(data))
		if err != nil || f.Status != ingest.FileStored || *f.SHA256 != hexSHA256(data) || f.ID != up.FileID {
			t.Fatalf("Complete = %+v, %v", f, err)
		}
		if got, err := c.File(ctx, f.ID); err != nil || got.Status != ingest.FileStored {
			t.Fatalf("File = %+v, %v", got, err)
		}
		content, err := c.Download(ctx, f.ID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := io.ReadAll(content.Body)
		content.Body.Close()
		if err != nil || !bytes.Equal(whole, data) || content.SHA256 != hexSHA256(data) || content.Size != 10 {
			t.Fatalf("Download = %q (%+v), %v", whole, content, err)
		}
		content, err = c.Download(ctx, f.ID, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(content.Body)
		content.Body.Close()
		if string(part) != "2345" || content.Offset != 2 || content.Size != 10 || content.Length != 4 {
			t.Fatalf("ranged Download = %q (%+v)", part, content)
		}

		single, err := c.PutFile(ctx, client.PutFileRequest{Filename: "one.txt", BatchID: &batch.ID, Body: bytesBody([]byte("one")),
			IdempotencyKey: "one"})
		if err != nil || single.Status != ingest.FileStored {
			t.Fatalf("PutFile = %+v, %v", single, err)
		}
		files, err := c.Files(ctx, client.FileFilter{BatchID: &batch.ID, Status: ingest.FileStored, Limit: 1})
		if err != nil || len(files.Items) != 1 || files.NextCursor == "" || files.Items[0].ID != single.ID {
			t.Fatalf("Files page 1 = %+v, %v; want the newest file, %s, first", files, err, single.ID)
		}
		files, err = c.Files(ctx, client.FileFilter{BatchID: &batch.ID, Cursor: files.NextCursor})
		if err != nil || len(files.Items) != 1 || files.NextCursor != "" {
			t.Fatalf("Files page 2 = %+v, %v", files, err)
		}

		sealed, err := c.SealBatch(ctx, batch.ID)
		if err != nil || sealed.Status != ingest.BatchComplete || sealed.StoredCount != 2 {
			t.Fatalf("SealBatch = %+v, %v", sealed, err)
		}
		_, err = c.SealBatch(ctx, batch.ID)
		wantCode(t, err, ingest.EBatchNotOpen)
		if list, err := c.Batches(ctx, client.BatchFilter{Status: ingest.BatchComplete}); err != nil || len(list.Items) != 1 {
			t.Fatalf("Batches = %+v, %v", list, err)
		}
	})
}

func TestTheClientAbortsAndCancels(t *testing.T) {
	t.Parallel()
	forEachPortal(t, func(t *testing.T, c *client.Client) {
		ctx := t.Context()
		batch, err := c.CreateBatch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		up, _, err := c.CreateUpload(ctx, client.CreateUploadRequest{Filename: "a", SizeBytes: 5, BatchID: &batch.ID})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, err := c.AbortUpload(ctx, up.ID); err != nil || got.Status != ingest.SessionAborted {
				t.Fatalf("AbortUpload = %+v, %v", got, err)
			}
		}
		if _, _, err := c.CreateUpload(ctx, client.CreateUploadRequest{Filename: "b", SizeBytes: 5, BatchID: &batch.ID}); err != nil {
			t.Fatal(err)
		}
		if got, err := c.CancelBatch(ctx, batch.ID); err != nil || got.Status != ingest.BatchCancelled {
			t.Fatalf("CancelBatch = %+v, %v", got, err)
		}
		_, err = c.File(ctx, up.ID) // an upload's id is not a file's
		wantCode(t, err, ingest.ENotFound)
	})
}

func TestUploadFileResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	forEachPortal(t, func(t *testing.T, c *client.Client) {
		data := make([]byte, 10*1024+7)
		for i := range data {
			data[i] = byte(i * 7)
		}
		path := filepath.Join(t.TempDir(), "data.bin")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The first run stops once the server has two parts.
		ctx, cancel := context.WithCancel(t.Context())
		var sent atomic.Int64
		first := client.FileUpload{Path: path, ChunkSize: 1024, Parallel: 1, Progress: func(n int64) {
			if sent.Add(n) >= 2048 {
				cancel()
			}
		}}
		if _, err := c.UploadFile(ctx, first); !errors.Is(err, context.Canceled) {
			t.Fatalf("the interrupted upload ended with %v, want context.Canceled", err)
		}
		var resumed int64
		// Another part size on the second run: it continues the first run's upload, in its parts.
		again := client.FileUpload{Path: path, ChunkSize: 4096, Parallel: 3, Started: func(r, size int64) { resumed = r }}
		res, err := c.UploadFile(t.Context(), again)
		if err != nil {
			t.Fatal(err)
		}
		if res.File.Status != ingest.FileStored || *res.File.SHA256 != hexSHA256(data) {
			t.Fatalf("stored %+v, want STORED with sha256 %s", res.File, hexSHA256(data))
		}
		if res.ResumedParts < 2 || res.ResumedParts+res.SentParts != 11 || resumed != int64(res.ResumedParts)*1024 {
			t.Errorf("resumed %d parts (%d bytes) and sent %d; want at least 2 resumed, 11 in all", res.ResumedParts, resumed, res.SentParts)
		}
		third, err := c.UploadFile(t.Context(), again)
		if err != nil || !third.AlreadyStored || third.File.ID != res.File.ID {
			t.Errorf("a third run: %+v, %v; want the same file, already stored", third, err)
		}
	})
}

func TestUploadFileFailsWhenTheFileChangesBetweenRuns(t *testing.T) {
	t.Parallel()
	forEachPortal(t, func(t *testing.T, c *client.Client) {
		path := filepath.Join(t.TempDir(), "data.bin")
		data := bytes.Repeat([]byte("a"), 4096)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(path)
		ctx, cancel := context.WithCancel(t.Context())
		_, err := c.UploadFile(ctx, client.FileUpload{Path: path, ChunkSize: 1024, Parallel: 1, Progress: func(int64) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the interrupted upload ended with %v", err)
		}
		// New bytes, same size and time: the same upload resumes, and the hash tells.
		if err := os.WriteFile(path, bytes.Repeat([]byte("b"), 4096), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}
		_, err = c.UploadFile(t.Context(), client.FileUpload{Path: path, ChunkSize: 1024})
		if !errors.Is(err, client.ErrFileChanged) || ingest.ErrorCode(err) != ingest.EChecksumMismatch {
			t.Fatalf("UploadFile of a file changed between runs = %v, want ErrFileChanged and CHECKSUM_MISMATCH", err)
		}
	})
}

func TestTheClientSendsMetadata(t *testing.T) {
	t.Parallel()
	forEachPortal(t, func(t *testing.T, c *client.Client) {
		ctx := context.Background()
		meta := map[string]string{"relative_path": "a/b c/ünï.txt", "source": "test & co"}
		data := []byte("metadata by parts")
		up, _, err := c.CreateUpload(ctx, client.CreateUploadRequest{Filename: "x.txt", SizeBytes: int64(len(data)), Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutPart(ctx, up.ID, 1, bytesBody(data)); err != nil {
			t.Fatal(err)
		}
		f, err := c.Complete(ctx, up.ID, "")
		if err != nil || !maps.Equal(f.Metadata, meta) {
			t.Fatalf("Complete = %+v, %v; want metadata %v", f, err, meta)
		}

		put, err := c.PutFile(ctx, client.PutFileRequest{Filename: "y.txt", Metadata: meta, Body: bytesBody(data)})
		if err != nil || !maps.Equal(put.Metadata, meta) {
			t.Fatalf("PutFile = %+v, %v; want metadata %v", put, err, meta)
		}
		got, err := c.File(ctx, put.ID)
		if err != nil || !maps.Equal(got.Metadata, meta) {
			t.Errorf("File = %+v, %v; want metadata %v", got, err, meta)
		}

		path := filepath.Join(t.TempDir(), "z.txt")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := c.UploadFile(ctx, client.FileUpload{Path: path, Metadata: meta})
		if err != nil || !maps.Equal(res.File.Metadata, meta) {
			t.Fatalf("UploadFile = %+v, %v; want metadata %v", res, err, meta)
		}
		// The same file with other metadata is another upload, not a conflict with the first.
		other, err := c.UploadFile(ctx, client.FileUpload{Path: path, Metadata: map[string]string{"relative_path": "elsewhere/z.txt"}})
		if err != nil || other.File.ID == res.File.ID || other.File.Metadata["relative_path"] != "elsewhere/z.txt" {
			t.Fatalf("UploadFile with other metadata = %+v, %v", other, err)
		}
		again, err := c.UploadFile(ctx, client.FileUpload{Path: path, Metadata: meta})
		if err != nil || !again.AlreadyStored || again.File.ID != res.File.ID {
			t.Errorf("UploadFile again = %+v, %v; want the first file, already stored", again, err)
		}

		_, err = c.PutFile(ctx, client.PutFileRequest{Filename: "bad.txt", Metadata: map[string]string{"no spaces": "v"}, Body: bytesBody(data)})
		wantCode(t, err, ingest.EValidation)
	})
}
