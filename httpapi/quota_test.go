package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/testclock"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

func TestPerUserQuotas(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{config: func(c *upload.Config) {
				c.MaxOpenSessions, c.MaxBytesInFlight = 2, 100
			}})
			alice := p.NewUser("alice", false)
			refused := func(r response, limit string) {
				t.Helper()
				if r.Status != http.StatusTooManyRequests || r.Code(t) != "QUOTA_EXCEEDED" {
					t.Fatalf("got %d %s, want 429 QUOTA_EXCEEDED", r.Status, r.Body)
				}
				if d, _ := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any); d["limit"] != limit {
					t.Errorf("details %v, want limit %s", d, limit)
				}
				if r.Header.Get("Retry-After") != "" {
					t.Errorf("QUOTA_EXCEEDED with a Retry-After: no wait foresees the end of the user's uploads")
				}
			}
			create := func(token string, size int) response {
				return p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "q.bin", "size_bytes": size})
			}

			refused(create(alice, 101), "max_bytes_in_flight")
			first := create(alice, 10).must(t, 201).str(t, "id")
			create(alice, 10).must(t, 201)
			refused(create(alice, 10), "max_open_sessions")
			refused(p.Do("POST", "/api/v1/files?filename=one.txt", alice, []byte("12345")), "max_open_sessions")
			if r := create(p.NewUser("bob", false), 10); r.Status != 201 {
				t.Errorf("another user is held to alice's quota: %d %s", r.Status, r.Body)
			}
			for range 3 {
				create(p.Admin, 60).must(t, 201) // admins are not held to it
			}

			p.Do("DELETE", "/api/v1/uploads/"+first, alice, nil).must(t, 200)
			p.Do("POST", "/api/v1/files?filename=one.txt", alice, []byte("12345")).must(t, 201)
			// The single-request upload gave its place back: one session more fits, and no more.
			create(alice, 10).must(t, 201)
			refused(create(alice, 10), "max_open_sessions")
		})
	}
}

func TestASingleRequestUploadHoldsItsPlaceWhileItsBodyStreams(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{config: func(c *upload.Config) { c.MaxOpenSessions = 1 }})
			alice := p.NewUser("alice", false)
			body, feed := io.Pipe()
			req, err := http.NewRequest("POST", p.URL+"/api/v1/files?filename=slow.txt", body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 10
			req.Header.Set("Authorization", "Bearer "+alice)
			done := make(chan int, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			if _, err := feed.Write([]byte("12345")); err != nil {
				t.Fatal(err)
			}
			waitForRows(t, p, `SELECT count(*) FROM upload_reservations`, 1)
			r := p.Do("POST", "/api/v1/uploads", alice, map[string]any{"filename": "q.bin", "size_bytes": 1})
			if r.Status != http.StatusTooManyRequests || r.Code(t) != "QUOTA_EXCEEDED" {
				t.Errorf("a session beside a single-request upload in flight: %d %s, want 429 QUOTA_EXCEEDED", r.Status, r.Body)
			}
			if _, err := feed.Write([]byte("67890")); err != nil {
				t.Fatal(err)
			}
			feed.Close()
			if status := <-done; status != http.StatusCreated {
				t.Fatalf("the single-request upload answered %d", status)
			}
			p.Do("POST", "/api/v1/uploads", alice, map[string]any{"filename": "q.bin", "size_bytes": 1}).must(t, 201)
		})
	}
}

// waitForRows polls the database until query counts want rows: the server has reached a point of
// a request still in flight.
func waitForRows(t *testing.T, p *portal, query string, want int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := p.Store.DB().QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s counts %d rows, not %d", query, n, want)
		}
	}
}

func TestBadTokensAreLimitedPerAddressBeforeTheyAreLookedUp(t *testing.T) {
	t.Parallel()
	clock := &testclock.Offset{}
	p := newPortal(t, "sqlite", portalOptions{badTokens: 3, clock: clock.Now})
	alice := p.NewUser("alice", false)
	p.Do("GET", "/api/v1/files", alice, nil).must(t, 200)
	for i := range 3 {
		if r := p.Do("GET", "/api/v1/files", fmt.Sprintf("ingest_bad_%d", i), nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("bad token %d: %d %s, want 401", i, r.Status, r.Body)
		}
	}
	for _, token := range []string{"ingest_bad_again", alice} {
		r := p.Do("GET", "/api/v1/files", token, nil)
		if r.Status != http.StatusTooManyRequests || r.Code(t) != "RATE_LIMITED" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("after 3 bad tokens, %s: %d %s (Retry-After %q), want 429 RATE_LIMITED with Retry-After",
				token, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
		if d, _ := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any); d["reason"] != "bad_tokens" {
			t.Errorf("details %v, want reason bad_tokens", d)
		}
	}
	if r := p.Do("GET", "/healthz", "", nil); r.Status != 200 {
		t.Errorf("a request without a token is limited too: %d", r.Status)
	}
	clock.Advance(time.Minute)
	p.Do("GET", "/api/v1/files", alice, nil).must(t, 200)
}
