package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
)

// fastRetry retries without waiting long, so that these tests run quickly; the waits' lengths are
// checked in retry_test.go.
var fastRetry = client.Retry{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond, MaxRetryAfter: time.Minute}

func newClient(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "ingest_secret", client.WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func writeAPIError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"error":{"code":"`+code+`","message":"try later","details":{"n":1}}}`)
}

func TestA5xxOfARepeatableRequestIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			writeAPIError(w, http.StatusServiceUnavailable, "INTERNAL")
			return
		}
		io.WriteString(w, `{"id":"`+uuid.NewString()+`","status":"OPEN"}`)
	}))
	b, err := c.Batch(t.Context(), uuid.New())
	if err != nil || b.Status != ingest.BatchOpen {
		t.Fatalf("Batch = %v, %v; want the batch after two 503s", b, err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestA5xxOfACreationWithoutKeyIsNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeAPIError(w, http.StatusInternalServerError, "INTERNAL")
	}))
	_, err := c.CreateBatch(t.Context(), "x")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != ingest.EInternal || apiErr.Status != 500 {
		t.Fatalf("CreateBatch error = %v, want *client.Error INTERNAL 500", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	_, _, err = c.CreateUpload(t.Context(), client.CreateUploadRequest{Filename: "f", SizeBytes: 1, IdempotencyKey: "k"})
	if ingest.ErrorCode(err) != ingest.EInternal || calls.Load() != 1+int32(fastRetry.Attempts) {
		t.Errorf("a creation with an idempotency key: %v after %d requests, want INTERNAL after %d", err, calls.Load()-1, fastRetry.Attempts)
	}
}

func TestA429IsRetriedAfterRetryAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			writeAPIError(w, http.StatusTooManyRequests, "RATE_LIMITED")
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"status":"OPEN","name":"x"}`)
	}))
	if b, err := c.CreateBatch(t.Context(), "x"); err != nil || b.Name != "x" {
		t.Fatalf("CreateBatch = %v, %v; want the batch after one 429", b, err)
	}
}

func TestStorageUnavailableIsRetriedForAnyRequest(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			writeAPIError(w, http.StatusServiceUnavailable, "STORAGE_UNAVAILABLE")
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"`+uuid.NewString()+`","status":"PENDING","total_parts":1}`)
	}))
	// A creation without an idempotency key, which another 5xx would not repeat.
	if _, _, err := c.CreateUpload(t.Context(), client.CreateUploadRequest{Filename: "f", SizeBytes: 1}); err != nil {
		t.Fatalf("CreateUpload after one 503 STORAGE_UNAVAILABLE: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

func TestErrorsCarryTheServersCodeMessageAndDetails(t *testing.T) {
	t.Parallel()
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusConflict, "MISSING_PARTS")
	}))
	_, err := c.Complete(t.Context(), uuid.New(), "")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %T %v is not a *client.Error", err, err)
	}
	if apiErr.Status != 409 || apiErr.Code != ingest.EMissingParts || apiErr.Message != "try later" || apiErr.Details["n"] != 1.0 {
		t.Errorf("error = %+v", apiErr)
	}
	if ingest.ErrorCode(err) != ingest.EMissingParts || ingest.ErrorMessage(err) != "try later" {
		t.Errorf("ingest.ErrorCode/ErrorMessage do not read the client's error: %q %q", ingest.ErrorCode(err), ingest.ErrorMessage(err))
	}
}

func TestAPartBodyIsReopenedForEachAttempt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b)+" "+r.Header.Get("Content-Digest"))
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			writeAPIError(w, http.StatusBadGateway, "INTERNAL")
			return
		}
		io.WriteString(w, `{"part_number":2,"status":"RECEIVED","size_bytes":5}`)
	}))
	opens := 0
	body := client.Body{Size: 5, SHA256: []byte{1, 2}, Open: func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(strings.NewReader("hello")), nil
	}}
	p, err := c.PutPart(t.Context(), uuid.New(), 2, body)
	if err != nil || p.PartNumber != 2 {
		t.Fatalf("PutPart = %v, %v", p, err)
	}
	want := "hello sha-256=:AQI=:"
	if opens != 2 || len(bodies) != 2 || bodies[0] != want || bodies[1] != want {
		t.Errorf("opened %d times; the server read %q; want 2 × %q", opens, bodies, want)
	}
}

func TestCancellationEndsTheWaitForARetry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the client is now waiting a minute (fastRetry's cap) before its next attempt
		w.Header().Set("Retry-After", "3600")
		writeAPIError(w, http.StatusServiceUnavailable, "INTERNAL")
	}))
	if _, err := c.Files(ctx, client.FileFilter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Files after cancel = %v, want context.Canceled", err)
	}
}

func TestANetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// Drop the connection without an answer, as a server that restarts does.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		io.WriteString(w, `{"items":[],"next_cursor":""}`)
	}))
	if l, err := c.Files(t.Context(), client.FileFilter{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("Files = %v, %v; want an empty page after a dropped connection", l, err)
	}
}

func TestATokenThatCannotBeAHeaderIsRefused(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"two words", "line\nbreak", "caf\u00e9", "tab\t"} {
		if _, err := client.New("http://127.0.0.1:8080", token); err == nil {
			t.Errorf("New accepted the token %q", token)
		}
	}
	for _, server := range []string{"127.0.0.1:8080", "ftp://host", "http://"} {
		if _, err := client.New(server, "t"); err == nil {
			t.Errorf("New accepted the server %q", server)
		}
	}
	if _, err := client.New("https://portal.example/", "ingest_abc-123"); err != nil {
		t.Errorf("New refused a good server and token: %v", err)
	}
}
