package tus_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
)

// TestPerUserQuotas holds tus creations, creations with the whole file and deferred lengths to the
// user's quota, on both databases.
func TestPerUserQuotas(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, backend{dialect, "local"}, options{config: func(c *upload.Config) {
				c.MaxOpenSessions, c.MaxBytesInFlight = 2, 100
			}})
			refused := func(what string, r response) {
				t.Helper()
				if r.Status != http.StatusTooManyRequests || r.Code() != "QUOTA_EXCEEDED" {
					t.Errorf("%s: %d %s, want 429 QUOTA_EXCEEDED", what, r.Status, r.Body)
				}
			}
			refused("a creation beyond the bytes", p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "101"))
			deferred := p.Create(p.Alice, -1)
			p.Create(p.Alice, 60)
			refused("a third creation", p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "1"))
			refused("a third creation with the whole file", p.Do("POST", tus.Prefix, p.Alice, strings.NewReader("x"),
				"Upload-Length", "1", "Content-Type", "application/offset+octet-stream"))
			p.Create(p.Bob, 1) // another user's quota is their own

			refused("a deferred length beyond the bytes", p.Patch(deferred, p.Alice, 0, []byte("abc"), "Upload-Length", "41"))
			if r := p.Do("HEAD", deferred, p.Alice, nil); r.Offset() != 0 || r.Header.Get("Upload-Defer-Length") != "1" {
				t.Errorf("after the refused length: offset %d, Upload-Defer-Length %q; want 0 and still deferred",
					r.Offset(), r.Header.Get("Upload-Defer-Length"))
			}
			if r := p.Patch(deferred, p.Alice, 0, []byte("abc"), "Upload-Length", "40"); r.Status != http.StatusNoContent {
				t.Errorf("a deferred length within the bytes: %d %s", r.Status, r.Body)
			}
			if r := p.Do("DELETE", deferred, p.Alice, nil); r.Status != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", r.Status, r.Body)
			}
			if r := p.Do("POST", tus.Prefix, p.Alice, strings.NewReader("x"), "Upload-Length", "1",
				"Content-Type", "application/offset+octet-stream"); r.Status != http.StatusCreated {
				t.Errorf("a creation with the whole file once a place is free: %d %s", r.Status, r.Body)
			}
		})
	}
}
