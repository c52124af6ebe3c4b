package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingest-portal/ingest/internal/testkit/syncbuf"
	"github.com/ingest-portal/ingest/internal/testkit/testclock"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// must fails unless the answer has the status.
func (r response) must(t *testing.T, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("answer %d %s, want %d", r.Status, r.Body, status)
	}
	return r
}

// str returns a string field of a JSON answer.
func (r response) str(t *testing.T, field string) string {
	t.Helper()
	v, _ := r.JSON(t)[field].(string)
	return v
}

// num returns a number field of a JSON answer.
func (r response) num(t *testing.T, field string) int64 {
	t.Helper()
	v, _ := r.JSON(t)[field].(float64)
	return int64(v)
}

// session starts an upload of data and returns its id and part size.
func (p *portal) session(token string, data []byte, extra map[string]any) (string, int64) {
	p.t.Helper()
	body := map[string]any{"filename": "data.bin", "size_bytes": len(data)}
	for k, v := range extra {
		body[k] = v
	}
	r := p.Do("POST", "/api/v1/uploads", token, body).must(p.t, http.StatusCreated)
	return r.str(p.t, "id"), r.num(p.t, "chunk_size_bytes")
}

func (p *portal) putPart(token, id string, data []byte, chunk int64, n int) response {
	start := int64(n-1) * chunk
	return p.Do("PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/%d", id, n), token, data[start:min(start+chunk, int64(len(data)))])
}

// upload sends data in parts, in parallel and out of order, completes it and returns the file.
func (p *portal) upload(token string, data []byte, extra map[string]any) map[string]any {
	p.t.Helper()
	id, chunk := p.session(token, data, extra)
	parts := int((int64(len(data)) + chunk - 1) / chunk)
	var wg sync.WaitGroup
	for n := parts; n >= 1; n-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := p.putPart(token, id, data, chunk, n); r.Status != http.StatusOK {
				p.t.Errorf("part %d: %d %s", n, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	return p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil).must(p.t, http.StatusOK).JSON(p.t)
}

func TestUploadOverHTTPOnEveryDatabaseAndStorage(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		for _, storage := range []string{"local", "s3", "gcs", "azure"} {
			t.Run(dialect+"/"+storage, func(t *testing.T) {
				t.Parallel()
				p := newPortal(t, dialect, portalOptions{storage: storage})
				token := p.NewUser("alice", false)
				data := randomBytes(t, 12<<20+12345) // S3 takes parts of 5 MiB and more
				f := p.upload(token, data, map[string]any{"chunk_size_bytes": 5 << 20, "sha256": hexSHA(data)})
				if f["status"] != "STORED" || f["sha256"] != hexSHA(data) || f["storage_backend"] != storage {
					t.Fatalf("file = %v", f)
				}
				got := p.Do("GET", "/api/v1/files/"+f["id"].(string)+"/content", token, nil).must(t, http.StatusOK)
				if !bytes.Equal(got.Body, data) {
					t.Fatalf("the download (%d bytes) differs from the upload (%d bytes)", len(got.Body), len(data))
				}
				if got.Header.Get("ETag") != `"`+hexSHA(data)+`"` {
					t.Errorf("ETag %q", got.Header.Get("ETag"))
				}
			})
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{})
	alice, bob := p.NewUser("alice", false), p.NewUser("bob", false)
	data := randomBytes(t, 100)

	type call struct {
		method, path string
		body         any
		// created is the status of a call that makes something new; 0 for a call on one of
		// alice's resources, which she and an admin get 200 for and anyone else 404.
		created int
	}
	// calls returns every endpoint, aimed at a fresh set of alice's resources: a batch to read
	// and seal, one to cancel, an upload in progress and a stored file.
	calls := func() []call {
		batch := p.Do("POST", "/api/v1/batches", alice, map[string]any{"name": "a"}).must(t, 201).str(t, "id")
		doomed := p.Do("POST", "/api/v1/batches", alice, map[string]any{"name": "b"}).must(t, 201).str(t, "id")
		session, _ := p.session(alice, data, nil)
		file := p.upload(alice, data, nil)["id"].(string)
		return []call{
			{"GET", "/api/v1/batches", nil, 200},
			{"POST", "/api/v1/batches", map[string]any{}, 201},
			{"GET", "/api/v1/batches/" + batch, nil, 0},
			{"GET", "/api/v1/uploads/" + session, nil, 0},
			{"GET", "/api/v1/uploads/" + session + "/parts", nil, 0},
			{"PUT", "/api/v1/uploads/" + session + "/parts/1", data, 0},
			{"GET", "/api/v1/files", nil, 200},
			{"GET", "/api/v1/files/" + file, nil, 0},
			{"GET", "/api/v1/files/" + file + "/content", nil, 0},
			{"POST", "/api/v1/uploads", map[string]any{"filename": "x", "size_bytes": 1}, 201},
			{"POST", "/api/v1/files?filename=x", []byte("x"), 201},
			{"POST", "/api/v1/uploads/" + session + "/complete", nil, 0},
			{"POST", "/api/v1/batches/" + batch + "/seal", nil, 0},
			{"POST", "/api/v1/batches/" + doomed + "/cancel", nil, 0},
			{"DELETE", "/api/v1/uploads/" + p.mustSession(alice, data), nil, 0},
		}
	}
	for _, who := range []struct {
		name, token   string
		authenticated bool
		owns          bool // may act on alice's resources
	}{
		{"anonymous", "", false, false}, {"a wrong token", "ingest_not-a-token", false, false},
		{"alice", alice, true, true}, {"bob", bob, true, false}, {"an admin", p.Admin, true, true},
	} {
		t.Run(who.name, func(t *testing.T) {
			for _, c := range calls() {
				want := c.created
				switch {
				case !who.authenticated:
					want = 401
				case c.created == 0 && who.owns:
					want = 200
				case c.created == 0:
					want = 404
				}
				r := p.Do(c.method, c.path, who.token, c.body)
				if r.Status != want {
					t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Body, want)
					continue
				}
				switch want {
				case 401:
					if r.Code(t) != "UNAUTHENTICATED" || r.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s %s: %s, WWW-Authenticate %q", c.method, c.path, r.Body, r.Header.Get("WWW-Authenticate"))
					}
				case 404:
					if r.Code(t) != "NOT_FOUND" {
						t.Errorf("%s %s: code %s, want NOT_FOUND", c.method, c.path, r.Code(t))
					}
				}
			}
		})
	}

	owners := func(token, path string) map[string]int {
		out := map[string]int{}
		for _, item := range p.Do("GET", path, token, nil).must(t, 200).JSON(t)["items"].([]any) {
			m := item.(map[string]any)
			owner, _ := m["uploaded_by_id"].(string)
			if owner == "" {
				owner, _ = m["created_by_id"].(string)
			}
			out[owner]++
		}
		return out
	}
	aliceFile := p.upload(alice, data, nil)["id"].(string)
	aliceID := p.Do("GET", "/api/v1/files/"+aliceFile, alice, nil).str(t, "uploaded_by_id")
	for _, path := range []string{"/api/v1/files", "/api/v1/batches"} {
		if mine := owners(bob, path); mine[aliceID] != 0 || len(mine) != 1 {
			t.Errorf("bob's %s shows other users' items: %v", path, mine)
		}
		if all := owners(p.Admin, path); all[aliceID] == 0 || len(all) < 2 {
			t.Errorf("the admin's %s does not show everyone's: %v", path, all)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/openapi.json"} {
		if r := p.Do("GET", path, "", nil); r.Status != 200 {
			t.Errorf("public %s: %d", path, r.Status)
		}
	}
}

// mustSession starts an upload and returns its id.
func (p *portal) mustSession(token string, data []byte) string {
	p.t.Helper()
	id, _ := p.session(token, data, nil)
	return id
}

func TestEveryErrorCode(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{config: func(c *upload.Config) {
		c.MaxSingleUpload = 1 << 10
		c.DefaultChunk = 1 << 10
	}})
	token := p.NewUser("alice", false)
	data := randomBytes(t, 3<<10)
	want := func(r response, status int, code string) {
		t.Helper()
		if r.Status != status || r.Code(t) != code {
			t.Errorf("got %d %s, want %d %s", r.Status, r.Body, status, code)
		}
	}

	want(p.Do("GET", "/api/v1/files", "", nil), 401, "UNAUTHENTICATED")
	want(p.Do("GET", "/api/v1/files/"+"01936d2e-0000-7000-8000-000000000001", token, nil), 404, "NOT_FOUND")
	want(p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "x"}), 400, "VALIDATION_FAILED")
	want(p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "x", "size_bytes": 1, "colour": "red"}), 400, "VALIDATION_FAILED")
	want(p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "x", "size_bytes": 1, "content_type": "not a type"}), 400, "VALIDATION_FAILED")
	want(p.Do("POST", "/api/v1/files?filename=big", token, make([]byte, 2<<10)), 413, "PAYLOAD_TOO_LARGE")

	id, chunk := p.session(token, data, nil)
	want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/1", token, data[:10]), 400, "PART_SIZE_MISMATCH")
	p.putPart(token, id, data, chunk, 1).must(t, 200)
	want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/1", token, data[chunk:2*chunk]), 409, "PART_ALREADY_RECEIVED")
	r := p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil)
	want(r, 409, "MISSING_PARTS")
	if d, _ := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any); fmt.Sprint(d["missing"]) != "[2 3]" {
		t.Errorf("missing = %v", d)
	}
	sum := sha256.Sum256([]byte("not this part"))
	want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/2", token, data[chunk:2*chunk], "Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":"),
		422, "CHECKSUM_MISMATCH")
	want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/2", token, data[chunk:2*chunk], "Content-Digest", "sha-256=notbase64"), 400, "VALIDATION_FAILED")
	p.Do("DELETE", "/api/v1/uploads/"+id, token, nil).must(t, 200)
	want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/2", token, data[chunk:2*chunk]), 409, "SESSION_NOT_ACTIVE")

	p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "k", "size_bytes": 5}, "Idempotency-Key", "key-1").must(t, 201)
	p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "k", "size_bytes": 5}, "Idempotency-Key", "key-1").must(t, 200)
	want(p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "k", "size_bytes": 6}, "Idempotency-Key", "key-1"), 409, "IDEMPOTENCY_CONFLICT")

	batch := p.Do("POST", "/api/v1/batches", token, nil).must(t, 201).str(t, "id")
	p.Do("POST", "/api/v1/batches/"+batch+"/seal", token, nil).must(t, 200)
	want(p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "b", "size_bytes": 1, "batch_id": batch}), 409, "BATCH_NOT_OPEN")
	want(p.Do("POST", "/api/v1/batches/"+batch+"/seal", token, nil), 409, "BATCH_NOT_OPEN")

	bad, _ := p.session(token, data[:5], map[string]any{"sha256": hexSHA([]byte("other"))})
	p.Do("PUT", "/api/v1/uploads/"+bad+"/parts/1", token, data[:5]).must(t, 200)
	want(p.Do("POST", "/api/v1/uploads/"+bad+"/complete", token, nil), 422, "CHECKSUM_MISMATCH")

	want(p.Do("DELETE", "/api/v1/files", token, nil), 405, "METHOD_NOT_ALLOWED")
	f := p.upload(token, data[:100], nil)["id"].(string)
	want(p.Do("GET", "/api/v1/files/"+f+"/content", token, nil, "Range", "bytes=500-"), 416, "RANGE_NOT_SATISFIABLE")

	t.Run("SESSION_EXPIRED", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{config: func(c *upload.Config) { c.SessionTTL = time.Millisecond }})
		token := p.NewUser("alice", false)
		id, _ := p.session(token, []byte("x"), nil)
		time.Sleep(5 * time.Millisecond)
		want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/1", token, []byte("x")), 410, "SESSION_EXPIRED")
		want(p.Do("PUT", "/api/v1/uploads/"+id+"/parts/1", token, []byte("x")), 410, "SESSION_EXPIRED")
		want(p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil), 410, "SESSION_EXPIRED")
		if s := p.Do("GET", "/api/v1/uploads/"+id, token, nil).str(t, "status"); s != "FAILED" {
			t.Errorf("the expired session is %s, want FAILED", s)
		}
	})
	t.Run("RATE_LIMITED", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{rateLimit: 1})
		token := p.NewUser("alice", false)
		var last response
		for range 5 {
			last = p.Do("GET", "/api/v1/files", token, nil)
		}
		want(last, 429, "RATE_LIMITED")
		if last.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on 429")
		}
		if r := p.Do("GET", "/api/v1/files", p.NewUser("bob", false), nil); r.Status != 200 {
			t.Errorf("another user is limited too: %d", r.Status)
		}
	})
	t.Run("FORBIDDEN", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{})
		token := p.NewUser("carol", false)
		if _, err := p.Store.DB().Exec(`UPDATE users SET disabled_at = '2026-01-01T00:00:00.000000Z' WHERE username = 'carol'`); err != nil {
			t.Fatal(err)
		}
		want(p.Do("GET", "/api/v1/files", token, nil), 403, "FORBIDDEN")
	})
	t.Run("INTERNAL", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{})
		token := p.NewUser("dave", false)
		p.Store.Close() // every query now fails inside the server
		r := p.Do("GET", "/api/v1/files", token, nil)
		if r.Status != 500 || strings.TrimSpace(string(r.Body)) != `{"error":{"code":"INTERNAL","message":"internal error"}}` {
			t.Errorf("got %d %s, want 500 INTERNAL and nothing more", r.Status, r.Body)
		}
		if r := p.Do("GET", "/readyz", "", nil); r.Status != 503 {
			t.Errorf("readyz with the database closed: %d", r.Status)
		}
	})
}

func TestBatchOverHTTP(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			token := p.NewUser("alice", false)
			batch := p.Do("POST", "/api/v1/batches", token, map[string]any{"name": "three"}).must(t, 201).str(t, "id")
			data := randomBytes(t, 1000)
			var ids []string
			for range 3 {
				id, _ := p.session(token, data, map[string]any{"batch_id": batch})
				ids = append(ids, id)
			}
			p.Do("DELETE", "/api/v1/uploads/"+ids[1], token, nil).must(t, 200)
			for _, i := range []int{0, 2} {
				p.Do("PUT", "/api/v1/uploads/"+ids[i]+"/parts/1", token, data).must(t, 200)
				p.Do("POST", "/api/v1/uploads/"+ids[i]+"/complete", token, nil).must(t, 200)
			}
			b := p.Do("POST", "/api/v1/batches/"+batch+"/seal", token, nil).must(t, 200).JSON(t)
			if b["status"] != "PARTIAL" || b["total_files"] != 3.0 || b["stored_count"] != 2.0 || b["failed_count"] != 1.0 {
				t.Errorf("batch = %v, want PARTIAL 3/2/1", b)
			}

			// Twenty completions at once in one sealed batch keep its counters exact.
			many := p.Do("POST", "/api/v1/batches", token, nil).must(t, 201).str(t, "id")
			var sessions []string
			for range 20 {
				id, _ := p.session(token, data, map[string]any{"batch_id": many})
				p.Do("PUT", "/api/v1/uploads/"+id+"/parts/1", token, data).must(t, 200)
				sessions = append(sessions, id)
			}
			p.Do("POST", "/api/v1/batches/"+many+"/seal", token, nil).must(t, 200)
			var wg sync.WaitGroup
			for _, id := range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil); r.Status != 200 {
						t.Errorf("complete: %d %s", r.Status, r.Body)
					}
				}()
			}
			wg.Wait()
			got := p.Do("GET", "/api/v1/batches/"+many, token, nil).must(t, 200).JSON(t)
			if got["status"] != "COMPLETE" || got["stored_count"] != 20.0 || got["failed_count"] != 0.0 {
				t.Errorf("batch after 20 concurrent completions = %v", got)
			}
			files := p.Do("GET", "/api/v1/files?batch_id="+many+"&status=STORED&limit=15", token, nil).must(t, 200).JSON(t)
			rest := p.Do("GET", "/api/v1/files?batch_id="+many+"&status=STORED&limit=15&cursor="+files["next_cursor"].(string), token, nil).must(t, 200).JSON(t)
			if len(files["items"].([]any)) != 15 || len(rest["items"].([]any)) != 5 || rest["next_cursor"] != nil {
				t.Errorf("pages of 15: %d then %d (next %v)", len(files["items"].([]any)), len(rest["items"].([]any)), rest["next_cursor"])
			}
			half := p.Do("GET", "/api/v1/files?batch_id="+many+"&limit=10", token, nil).must(t, 200).JSON(t)
			last := p.Do("GET", "/api/v1/files?batch_id="+many+"&limit=10&cursor="+half["next_cursor"].(string), token, nil).must(t, 200).JSON(t)
			if len(last["items"].([]any)) != 10 || last["next_cursor"] != nil {
				t.Errorf("an exactly full last page: %d items, next_cursor %v; want 10 and none", len(last["items"].([]any)), last["next_cursor"])
			}
		})
	}
}

// sendPartially opens a raw connection, sends a part's headers and only some of its body, and then
// either closes the connection or stalls until the server closes it.
func sendPartially(t *testing.T, p *portal, token, path string, size int, send []byte, stall bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", path, token, size)
	conn.Write(send)
	if !stall {
		return
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	for {
		if _, err := conn.Read(buf); err != nil {
			return // the server hung up, or answered and hung up
		}
	}
}

// TestAClientThatGoesAwayIsBlamedNotThePortal: a part or a single-request upload cut short, or a
// stalled body, is CLIENT_CLOSED (499) logged at INFO, never an ERROR of the portal's, and the
// part can be sent again.
func TestAClientThatGoesAwayIsBlamedNotThePortal(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	p := newPortal(t, "sqlite", portalOptions{idleTimeout: 300 * time.Millisecond, logs: logs})
	token := p.NewUser("alice", false)
	data := randomBytes(t, 64<<10)
	id, _ := p.session(token, data, nil)
	path := "/api/v1/uploads/" + id + "/parts/1"
	sendPartially(t, p, token, path, len(data), data[:1000], false) // cut short
	sendPartially(t, p, token, path, len(data), data[:1000], true)  // stalled
	sendPartially(t, p, token, "/api/v1/files?filename=cut.bin", len(data), data[:1000], false)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "code=CLIENT_CLOSED") < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.Count(logs.String(), "code=CLIENT_CLOSED"); got < 3 || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("%d requests logged CLIENT_CLOSED, want 3 and no ERROR; logs:\n%s", got, logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "CLIENT_CLOSED") && !strings.Contains(line, "level=INFO") {
			t.Errorf("not at INFO: %s", line)
		}
	}
	p.Do("PUT", path, token, data).must(t, 200)
}

func TestAClientThatDisconnectsOrStallsMidPartLeavesNothingReceived(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{idleTimeout: 300 * time.Millisecond})
	token := p.NewUser("alice", false)
	data := randomBytes(t, 64<<10)
	id, _ := p.session(token, data, nil)
	path := "/api/v1/uploads/" + id + "/parts/1"

	sendPartially(t, p, token, path, len(data), data[:1000], false)
	start := time.Now()
	sendPartially(t, p, token, path, len(data), data[:1000], true)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("a stalled client held the part for %v", waited)
	}
	// Give the server a moment to notice the first connection's end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		parts := p.Do("GET", path[:len(path)-len("/1")], token, nil).must(t, 200).JSON(t)["items"].([]any)
		settled := true
		for _, part := range parts {
			st := part.(map[string]any)["status"]
			if st == "RECEIVED" {
				t.Fatalf("a part whose body never arrived is RECEIVED: %v", part)
			}
			settled = settled && st == "FAILED"
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := p.Do("GET", "/api/v1/uploads/"+id, token, nil).JSON(t); s["received_parts_count"] != 0.0 {
		t.Errorf("received parts = %v", s["received_parts_count"])
	}
	p.Do("PUT", path, token, data).must(t, 200)
	f := p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil).must(t, 200).JSON(t)
	if f["sha256"] != hexSHA(data) {
		t.Errorf("sha256 = %v, want %s", f["sha256"], hexSHA(data))
	}
}

func TestDownloads(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{})
	token := p.NewUser("alice", false)
	data := randomBytes(t, 1000)
	r := p.Do("POST", "/api/v1/files?filename=../../evil%22name%0A.txt", token, data, "Content-Type", "text/html").must(t, 201)
	id := r.str(t, "id")
	content := "/api/v1/files/" + id + "/content"
	for rng, want := range map[string][]byte{"bytes=0-9": data[:10], "bytes=990-": data[990:], "bytes=-5": data[995:], "bytes=995-2000": data[995:],
		"bytes=0-99999999999999999999": data, "bytes=-99999999999999999999": data} {
		got := p.Do("GET", content, token, nil, "Range", rng).must(t, 206)
		if !bytes.Equal(got.Body, want) || !strings.HasPrefix(got.Header.Get("Content-Range"), "bytes ") {
			t.Errorf("Range %s: %d bytes, Content-Range %q", rng, len(got.Body), got.Header.Get("Content-Range"))
		}
	}
	p.Do("GET", content, token, nil, "Range", "bytes=99999999999999999999-").must(t, 416)
	if got := p.Do("GET", content, token, nil, "Range", "bytes=0-1,5-6").must(t, 200); len(got.Body) != 1000 {
		t.Errorf("several ranges: %d bytes, want the whole file", len(got.Body))
	}
	full := p.Do("GET", content, token, nil).must(t, 200)
	cd := full.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment;") || strings.ContainsAny(cd, "/\n") || full.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(full.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("headers: %v", full.Header)
	}
	p.Do("GET", content, token, nil, "If-None-Match", full.Header.Get("ETag")).must(t, 304)
	p.Do("GET", content, token, nil, "If-None-Match", `"other", W/`+full.Header.Get("ETag")).must(t, 304)
	p.Do("GET", content, token, nil, "If-None-Match", `"other"`).must(t, 200)
	if got := p.Do("GET", content, token, nil, "Range", "bytes=0-9", "If-Range", `"stale"`).must(t, 200); len(got.Body) != 1000 {
		t.Errorf("a Range under a stale If-Range: %d bytes, want the whole file", len(got.Body))
	}
	unfinished, _ := p.session(token, data, nil)
	fileOf := p.Do("GET", "/api/v1/uploads/"+unfinished, token, nil).str(t, "file_id")
	if got := p.Do("GET", "/api/v1/files/"+fileOf+"/content", token, nil); got.Status != 404 {
		t.Errorf("content of an unfinished file: %d", got.Status)
	}
}

func TestEndedUploadsLeaveNothingBehindInGCSOrAzure(t *testing.T) {
	t.Parallel()
	// left counts what an upload in progress keeps: in GCS its marker and parts, in Azure its
	// marker and the blob of its uncommitted blocks; two of them for each of 2 uploads.
	for storage, left := range map[string]func(t *testing.T, p *portal) int{
		"gcs":   func(t *testing.T, p *portal) int { return len(p.GCS.Objects(t, p.Bucket, "portal/.uploads/")) },
		"azure": func(t *testing.T, p *portal) int { return len(p.Azure.Blobs(t, p.Bucket, "portal/")) },
	} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			var clock testclock.Offset
			p := newPortal(t, "sqlite", portalOptions{storage: storage, clock: clock.Now})
			token := p.NewUser("alice", false)
			data := randomBytes(t, 6<<20)
			aborted, chunk := p.session(token, data, nil)
			p.putPart(token, aborted, data, chunk, 1).must(t, 200)
			expired, _ := p.session(token, data, nil)
			p.putPart(token, expired, data, chunk, 1).must(t, 200)
			if n := left(t, p); n != 4 {
				t.Fatalf("%d objects of uploads in progress, want 4", n)
			}
			p.Do("DELETE", "/api/v1/uploads/"+aborted, token, nil).must(t, 200)
			clock.Advance(upload.DefaultConfig().SessionTTL + time.Minute)
			if n, err := p.Service.Sweep(context.Background()); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want the expired session", n, err)
			}
			if n := left(t, p); n != 0 {
				t.Errorf("%d objects left after an abort and an expiry", n)
			}
		})
	}
}

func TestEndedUploadsLeaveNoMultipartUploadInS3(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{storage: "s3", config: func(c *upload.Config) { c.SessionTTL = time.Second }})
	token := p.NewUser("alice", false)
	data := randomBytes(t, 6<<20)
	aborted, chunk := p.session(token, data, nil)
	p.putPart(token, aborted, data, chunk, 1).must(t, 200)
	expired, _ := p.session(token, data, nil)
	p.putPart(token, expired, data, chunk, 1).must(t, 200)
	pending := func() int {
		out, err := p.S3.Client().ListMultipartUploads(context.Background(), &s3api.ListMultipartUploadsInput{Bucket: &p.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	if n := pending(); n != 2 {
		t.Fatalf("multipart uploads in progress = %d, want 2", n)
	}
	p.Do("DELETE", "/api/v1/uploads/"+aborted, token, nil).must(t, 200)
	time.Sleep(1100 * time.Millisecond)
	if n, err := p.Service.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the expired session", n, err)
	}
	if n := pending(); n != 0 {
		t.Errorf("multipart uploads left after an abort and an expiry: %d", n)
	}
}

// TestJSONBodyErrorsSpeakJSON: a body of the wrong JSON shape is refused in JSON's words, never
// with a Go type's name, and every JSON answer, error or not, forbids sniffing its type.
func TestJSONBodyErrorsSpeakJSON(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{})
	token := p.NewUser("alice", false)
	for body, want := range map[string]string{
		`[]`:                  "the body must be a JSON object",
		`"text"`:              "the body must be a JSON object",
		`{"size_bytes":"10"}`: `field "size_bytes" must be an integer`,
		`{"filename":1}`:      `field "filename" must be a string`,
		`{"metadata":[]}`:     `field "metadata" must be an object`,
	} {
		r := p.Do("POST", "/api/v1/uploads", token, []byte(body), "Content-Type", "application/json").must(t, 400)
		msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, want) || strings.Contains(msg, "Go ") || strings.Contains(msg, "httpapi.") || strings.Contains(msg, "map[") {
			t.Errorf("POST %s: message %q, want it to say %q and name no Go type", body, msg, want)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("POST %s: an error answer without X-Content-Type-Options: nosniff", body)
		}
	}
	if r := p.Do("GET", "/api/v1/files", token, nil).must(t, 200); r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("a JSON answer without X-Content-Type-Options: nosniff")
	}
}

// TestStalledBodiesAndReadersLoseTheirConnection: a JSON body that never arrives, with or without
// a token, and a download nobody reads, hold their connection no longer than the idle timeout.
func TestStalledBodiesAndReadersLoseTheirConnection(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	p := newPortal(t, "sqlite", portalOptions{idleTimeout: 300 * time.Millisecond, logs: logs})
	token := p.NewUser("alice", false)
	held := func(request string) time.Duration {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprint(conn, request)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		io.Copy(io.Discard, conn) // until the server hangs up
		return time.Since(start)
	}
	for name, auth := range map[string]string{"with a token": "Authorization: Bearer " + token + "\r\n", "without one": ""} {
		request := "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":"
		if d := held(request); d > 10*time.Second {
			t.Errorf("a stalled JSON body %s held its connection %v; logs:\n%s", name, d, logs)
		}
	}

	data := randomBytes(t, 64<<20)
	id := p.Do("POST", "/api/v1/files?filename=big.bin", token, data).must(t, 201).str(t, "id")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/files/%s/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id, token)
	// Read nothing: the server's writes fill the socket's buffers and then wait for us.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "download broke off") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "download broke off") {
		t.Error("a download nobody reads was still being sent after 15 s")
	}
}
