package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	s3store "github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

// startSilentServer listens on a port of 127.0.0.1 and accepts every connection, but neither
// reads nor answers: an S3 that hangs. It returns its endpoint.
func startSilentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// slowReader yields its bytes a window at a time, pausing before each: a client that uploads
// slowly, but steadily.
type slowReader struct {
	r      io.Reader
	window int
	pause  time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.window)])
}

func TestSilentS3(t *testing.T) {
	srv := versitygw.Start(t)
	silent := startSilentServer(t)
	const timeout = 300 * time.Millisecond
	wantUnavailable := func(t *testing.T, what string, err error) {
		t.Helper()
		if code := ingest.ErrorCode(err); code != ingest.EStorageUnavailable {
			t.Errorf("%s on a silent S3: %v, want STORAGE_UNAVAILABLE", what, err)
		}
		if msg := ingest.ErrorMessage(err); msg != "the storage is unavailable; try again later" {
			t.Errorf("%s: the message for clients is %q", what, msg)
		}
	}
	u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: "k", StorageID: "upload", Size: chunk, ChunkSize: chunk}

	t.Run("a request that gets no answer ends after the retries", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		store, err := s3store.Open(context.Background(), "s3://media?endpoint="+url.QueryEscape(silent), s3store.WithTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		_, err = store.CreateUpload(context.Background(), u)
		wantUnavailable(t, "CreateUpload", err)
		_, err = store.StatObject(context.Background(), "k")
		wantUnavailable(t, "StatObject", err)
		wantUnavailable(t, "CompleteUpload", store.CompleteUpload(context.Background(), u, []ingest.WrittenPart{{Number: 1, Size: chunk, ETag: "e"}}))
	})

	// A client of its own, without a timeout for answers: only the store's guard ends these.
	store := s3store.New(clientAt(srv, silent), "media", "", s3store.WithTimeout(timeout))

	t.Run("a part S3 stops taking ends", func(t *testing.T) {
		_, err := store.WritePart(context.Background(), u, 1, bytes.NewReader(pattern(chunk)))
		wantUnavailable(t, "WritePart", err)
	})

	t.Run("a download S3 does not answer ends", func(t *testing.T) {
		_, err := store.ReadObject(context.Background(), "k", 0, -1)
		wantUnavailable(t, "ReadObject", err)
	})

	t.Run("a caller that gives up is not told that S3 is unavailable", func(t *testing.T) {
		patient := s3store.New(clientAt(srv, silent), "media", "", s3store.WithTimeout(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := patient.WritePart(ctx, u, 1, bytes.NewReader(pattern(chunk)))
		if err == nil || ingest.ErrorCode(err) == ingest.EStorageUnavailable {
			t.Errorf("WritePart given up by its caller: %v, want an error other than STORAGE_UNAVAILABLE", err)
		}
	})

	t.Run("a slow client uploading a part is not cut off", func(t *testing.T) {
		// The guard runs only while S3 has the turn: a part that takes several timeouts to
		// arrive from the client (160 reads of 32 KiB, 20ms apart), but keeps moving, is stored,
		// and a download read as slowly is read whole.
		store := s3store.New(srv.Client(), srv.NewBucket(t), "", s3store.WithTimeout(time.Second))
		up := newUpload(t, store, chunk)
		body := &slowReader{r: bytes.NewReader(pattern(chunk)), window: 32 << 10, pause: 20 * time.Millisecond}
		p, err := store.WritePart(context.Background(), up, 1, body)
		if err != nil {
			t.Fatalf("WritePart from a slow client: %v", err)
		}
		if err := store.CompleteUpload(context.Background(), up, []ingest.WrittenPart{p}); err != nil {
			t.Fatal(err)
		}
		// And a slow reader of a download.
		rc, err := store.ReadObject(context.Background(), up.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var got bytes.Buffer
		_, err = io.CopyBuffer(&got, &slowReader{r: rc, window: 32 << 10, pause: 20 * time.Millisecond}, make([]byte, 32<<10))
		if err != nil || !bytes.Equal(got.Bytes(), pattern(chunk)) {
			t.Fatalf("a slow download: %d bytes, %v", got.Len(), err)
		}
	})
}
