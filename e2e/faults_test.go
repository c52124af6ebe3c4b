package e2e_test

// Faults of the parts the portal depends on (DESIGN.md §9, docs/durability.md "Cluster and
// faults"): NATS down then up, S3 failing and slow, PostgreSQL restarted, each under a running
// serve.

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

// outboxEvent is an event as "ingest outbox ls --json" prints it, the fields the tests read.
type outboxEvent struct {
	FileID       string  `json:"file_id"`
	Status       string  `json:"status"`
	AttemptCount int     `json:"attempt_count"`
	LastError    *string `json:"last_error"`
}

// outbox returns the portal's events by file id, through "ingest outbox ls --json".
func (p *portal) outbox() map[string]outboxEvent {
	p.t.Helper()
	var page struct {
		Items []outboxEvent `json:"items"`
	}
	out := p.ingest("outbox", "ls", "--json", "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		p.t.Fatalf("ingest outbox ls --json: %v\n%s", err, out)
	}
	events := map[string]outboxEvent{}
	for _, e := range page.Items {
		events[e.FileID] = e
	}
	return events
}

// waitDelivered waits until the event of every file is DELIVERED in the outbox: the relay marks
// it so once the sink has acknowledged it, a moment after a test sees it there.
func (p *portal) waitDelivered(files []sent) {
	p.t.Helper()
	for deadline := time.Now().Add(clusterWait); ; time.Sleep(100 * time.Millisecond) {
		events, waiting := p.outbox(), 0
		for _, f := range files {
			if events[f.fileID].Status != "DELIVERED" {
				waiting++
			}
		}
		if waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d of %d events are not DELIVERED in the outbox after %v", waiting, len(files), clusterWait)
		}
	}
}

// storeSmall stores a small file in one request on the instance at, and returns it.
func (c *spread) storeSmall(at int, name string) sent {
	c.t.Helper()
	data := randomData(1000 + len(name))
	var file struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	c.want(c.do(at, "POST", "/api/v1/files?filename="+name, data), http.StatusCreated, "store "+name, &file)
	if file.SHA256 != sha256Hex(data) {
		c.t.Fatalf("store %s: SHA-256 %s, want %s", name, file.SHA256, sha256Hex(data))
	}
	return sent{fileID: file.ID, data: data}
}

// TestNATSDownThenUpLosesNoEvent stops the NATS server under a running portal: files are still
// stored (2xx), their events wait in the outbox, never marked delivered, while the relay's
// attempts fail; once NATS is back on the same port and store, every event arrives, and the
// stream holds one message per file.
func TestNATSDownThenUpLosesNoEvent(t *testing.T) {
	t.Parallel()
	nats := natstest.Start(t)
	// An attempt lasts until its acknowledgement or the lease, a minute by default: a lease of 5s
	// lets the test see the attempts of the outage fail in seconds, and still outlasts the NATS
	// client's reconnection (every 2s), so that the attempts under way when NATS comes back
	// succeed instead of failing into the next, 16s, delay of the schedule.
	p := startPortal(t, buildIngest(t), testdb.MigratedURL(t, "postgres"), "--events-sink", natsSink(nats), "--relay-lease", "5s")
	c := newSpread(t, []*portal{p})
	files := []sent{c.storeSmall(0, "before.txt")}
	waitForEvents(t, nats, files)

	nats.Stop()
	down := time.Now()
	const during = 5
	for i := range during {
		files = append(files, c.storeSmall(0, fmt.Sprintf("during-%d.txt", i)))
	}
	// Events wait: the relay tries them, fails and records why, and delivers none.
	deadline := time.Now().Add(clusterWait)
	for failed := 0; failed == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded within %v of NATS going down\n%s", clusterWait, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
		events := p.outbox()
		for _, f := range files[1:] {
			e := events[f.fileID]
			if e.Status == "DELIVERED" {
				t.Fatalf("the event of %s is DELIVERED while NATS is down: %+v", f.fileID, e)
			}
			if e.AttemptCount > 0 && e.LastError != nil {
				failed++
			}
		}
	}
	t.Logf("NATS down: %d files stored, their events waiting, the first failure recorded after %v; restarting NATS",
		during, time.Since(down).Round(time.Millisecond))

	nats.Restart(t)
	up := time.Now()
	files = append(files, c.storeSmall(0, "after.txt"))
	waitForEvents(t, nats, files)
	p.waitDelivered(files)
	t.Logf("every event delivered %v after NATS came back", time.Since(up).Round(time.Millisecond))
}

// s3Faults is a reverse proxy in front of an S3 server that fails or slows the requests a test
// asks it to: the next few of a kind with a status of S3's own (500 InternalError, 503 SlowDown),
// all of them while down, each after a delay, or none ever answered while hung. It keeps the Host
// header, which SigV4 signs, so the server accepts what it passes on.
type s3Faults struct {
	URL   string
	proxy *httputil.ReverseProxy

	mu         sync.Mutex
	failNext   int            // requests matching failOnly still to fail with failStatus
	failOnly   *regexp.Regexp // of "METHOD /path?query"
	failStatus int
	down       bool          // fail every request with 503
	delay      time.Duration // before each request
	hung       chan struct{} // while not nil, a request waits for it to close, or for its client to leave
	log        []string      // each request: "METHOD /path?query -> status", statusHung for a hung one
}

// statusHung is the status the log of s3Faults records for a request it never answered.
const statusHung = -1

func startS3Faults(t *testing.T, endpoint string) *s3Faults {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &s3Faults{proxy: httputil.NewSingleHostReverseProxy(target)}
	// A request the portal gave up on (/readyz's timeout) is no failure of the test's.
	f.proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	// Before the server closes, which waits for every request: a hung one ends only so.
	t.Cleanup(func() { f.set(0, anyRequest, 0, false, 0) })
	f.URL = srv.URL
	return f
}

func (f *s3Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay, status, hung := f.delay, 0, f.hung
	switch {
	case f.down:
		status = http.StatusServiceUnavailable
	case f.failNext > 0 && f.failOnly.MatchString(r.Method+" "+r.URL.RequestURI()):
		f.failNext--
		status = f.failStatus
	}
	f.mu.Unlock()
	if hung != nil {
		f.record(r, statusHung)
		// The client's leaving is seen only once its body has been read, which a hung S3 never
		// does: a part waits for the test to end the hang.
		select {
		case <-hung:
		case <-r.Context().Done():
		}
		status = http.StatusServiceUnavailable // for a client that still waits, if any
	} else {
		time.Sleep(delay)
		f.record(r, status)
	}
	if status == 0 {
		f.proxy.ServeHTTP(w, r)
		return
	}
	code := map[int]string{http.StatusInternalServerError: "InternalError", http.StatusServiceUnavailable: "SlowDown"}[status]
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the test</Message></Error>`, code)
}

func (f *s3Faults) record(r *http.Request, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("%s %s -> %d", r.Method, r.URL.RequestURI(), status))
}

// The kinds of request a test fails: what the portal sends to create a multipart upload, write a
// part and complete the upload.
var (
	createRequest   = regexp.MustCompile(`^POST \S*[?&]uploads(=|&|$)`)
	partRequest     = regexp.MustCompile(`^PUT \S*[?&]partNumber=`)
	completeRequest = regexp.MustCompile(`^POST \S*[?&]uploadId=`)
	anyRequest      = regexp.MustCompile(``)
)

// set changes the faults, ends a hang and clears the log of requests: the next failNext requests
// that match only fail with failStatus, every request fails while down, each waits delay first.
func (f *s3Faults) set(failNext int, only *regexp.Regexp, failStatus int, down bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failOnly, f.failStatus, f.down, f.delay, f.log = failNext, only, failStatus, down, delay, nil
	if f.hung != nil {
		close(f.hung)
		f.hung = nil
	}
}

// hang makes every request wait, unanswered, until the next set: an S3 that takes connections
// and never answers. It clears the log of requests.
func (f *s3Faults) hang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = nil
	if f.hung == nil {
		f.hung = make(chan struct{})
	}
}

// requests returns the requests seen since the last set.
func (f *s3Faults) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// readyz returns the status of GET /readyz on the instance and its storage check.
func (c *spread) readyz(at int) (int, string) {
	c.t.Helper()
	a, err := c.once(c.urls[at%len(c.urls)], "GET", "/readyz", nil)
	if err != nil {
		c.t.Fatalf("GET /readyz: %v", err)
	}
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		c.t.Fatalf("GET /readyz: %d %q: %v", a.status, a.body, err)
	}
	return a.status, body.Checks["storage"]
}

// wantStorageUnavailable fails unless a is the API's 503 STORAGE_UNAVAILABLE with a Retry-After,
// which says nothing of its cause.
func wantStorageUnavailable(t *testing.T, what string, a answer) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	const message = "the storage is unavailable; try again later"
	if err := json.Unmarshal(a.body, &body); err != nil || a.status != http.StatusServiceUnavailable ||
		body.Error.Code != "STORAGE_UNAVAILABLE" || body.Error.Message != message || body.Error.Details != nil {
		t.Fatalf("%s: %d %s, want 503 STORAGE_UNAVAILABLE with the message %q alone", what, a.status, a.body, message)
	}
	if after, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || after < 1 {
		t.Fatalf("%s: Retry-After %q, want a number of seconds", what, a.header.Get("Retry-After"))
	}
}

// errorCode returns the code of an error answer, "" when it has none.
func errorCode(a answer) string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &body)
	return body.Error.Code
}

// storageTimeout is the --storage-timeout of the S3 fault test: how long the portal waits for a
// silent S3.
const storageTimeout = 2 * time.Second

// TestS3FaultsAreRetriedWithinLimitsAndReported puts a fault-injecting proxy between serve and
// versitygw. A few 500s and 503s are retried by the portal's S3 client, unseen by the API's
// client, except on a part, whose streamed body cannot be sent twice: that part answers 503
// STORAGE_UNAVAILABLE and is sent again. S3 down: a request answers 503 STORAGE_UNAVAILABLE after
// a bounded number of tries, /readyz answers 503 naming the storage, and the same request succeeds
// once S3 is back. S3 hung (taking connections, never answering): a part and a creation answer 503
// STORAGE_UNAVAILABLE within --storage-timeout a try, and the upload resumes once S3 answers again.
// S3 slow: uploads still complete, and /readyz gives up on a storage slower than its timeout.
func TestS3FaultsAreRetriedWithinLimitsAndReported(t *testing.T) {
	t.Parallel()
	gw := versitygw.Start(t)
	faults := startS3Faults(t, gw.Endpoint)
	env, storage := s3Storage(t, gw, faults.URL)
	p := startInstances(t, 1, testdb.MigratedURL(t, "postgres"), env,
		append([]string{"--storage", storage, "--storage-timeout", storageTimeout.String()}, clusterFlags...)...)[0]
	c := newSpread(t, []*portal{p})
	data := randomData(2*s3Part + 4321)
	create := func(key string) answer {
		req, _ := json.Marshal(map[string]any{"filename": key, "size_bytes": len(data), "sha256": sha256Hex(data)})
		a, err := c.once(p.URL, "POST", "/api/v1/uploads", req, "Idempotency-Key", key)
		if err != nil {
			t.Fatalf("create %s: %v", key, err)
		}
		return a
	}
	var session struct {
		ID string `json:"id"`
	}
	part := func(n int) answer {
		a, err := c.once(p.URL, "PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/%d", session.ID, n), data[(n-1)*s3Part:min(n*s3Part, len(data))])
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		return a
	}
	complete := func() {
		t.Helper()
		var file struct {
			Status string `json:"status"`
			SHA256 string `json:"sha256"`
		}
		a, err := c.once(p.URL, "POST", "/api/v1/uploads/"+session.ID+"/complete", nil)
		if err != nil {
			t.Fatalf("complete: %v", err)
		}
		c.want(a, http.StatusOK, "complete", &file)
		if file.Status != "STORED" || file.SHA256 != sha256Hex(data) {
			t.Fatalf("complete: %+v, want STORED with SHA-256 %s", file, sha256Hex(data))
		}
	}
	// tries counts the requests of the log of a kind that were answered with status (0: passed on).
	tries := func(kind *regexp.Regexp, status int) int {
		n := 0
		for _, r := range faults.requests() {
			req, answered, _ := strings.Cut(r, " -> ")
			if kind.MatchString(req) && answered == strconv.Itoa(status) {
				n++
			}
		}
		return n
	}

	// Two 503s on the creation of the multipart upload: retried, unseen.
	faults.set(2, createRequest, http.StatusServiceUnavailable, false, 0)
	c.want(create("transient"), http.StatusCreated, "create with two 503s from S3", &session)
	if failed, passed := tries(createRequest, 503), tries(createRequest, 0); failed != 2 || passed != 1 {
		t.Fatalf("S3 saw %d failed and %d passed creations, want 2 and 1: %q", failed, passed, faults.requests())
	}
	// A 500 on a part: its streamed body is not sent again by the portal; the client sends it.
	faults.set(1, partRequest, http.StatusInternalServerError, false, 0)
	wantStorageUnavailable(t, "a part S3 failed", part(1))
	if n := tries(partRequest, 500) + tries(partRequest, 0); n != 1 {
		t.Fatalf("S3 saw %d requests for one part, want 1: %q", n, faults.requests())
	}
	for n := 1; n <= 3; n++ {
		c.want(part(n), http.StatusOK, fmt.Sprintf("part %d", n), nil)
	}
	// Two 500s on the completion: retried, unseen.
	faults.set(2, completeRequest, http.StatusInternalServerError, false, 0)
	complete()
	if failed := tries(completeRequest, 500); failed != 2 {
		t.Fatalf("S3 saw %d failed completions, want 2: %q", failed, faults.requests())
	}

	// S3 down: the tries end, the answer says nothing of S3, and /readyz names the storage.
	faults.set(0, anyRequest, 0, true, 0)
	began := time.Now()
	wantStorageUnavailable(t, "a creation while S3 is down", create("later"))
	if n := tries(createRequest, 503); n < 2 || n > 3 {
		t.Fatalf("S3 saw %d tries of one creation while down, want 2 or 3 (the SDK's standard retryer): %q", n, faults.requests())
	}
	t.Logf("S3 down: a creation answered 503 after %d tries in %v", tries(createRequest, 503), time.Since(began).Round(time.Millisecond))
	if status, storage := c.readyz(0); status != http.StatusServiceUnavailable || storage != "unavailable" {
		t.Fatalf("/readyz while S3 is down: %d, storage %q; want 503, storage unavailable", status, storage)
	}
	// S3 back: ready again, and the same request, with the same key, succeeds.
	faults.set(0, anyRequest, 0, false, 0)
	if status, storage := c.readyz(0); status != http.StatusOK || storage != "ok" {
		t.Fatalf("/readyz once S3 is back: %d, storage %q; want 200, storage ok", status, storage)
	}
	c.want(create("later"), http.StatusCreated, "the creation again once S3 is back", &session)
	for n := 1; n <= 3; n++ {
		c.want(part(n), http.StatusOK, fmt.Sprintf("part %d", n), nil)
	}
	complete()

	// S3 hung: it takes connections and never answers. A part, whose streamed body has one try,
	// and a creation, which has the SDK's tries, each end within --storage-timeout a try, with a
	// 503 the client can act on. Once S3 answers again, the upload resumes where it was.
	c.want(create("hung"), http.StatusCreated, "create before S3 hangs", &session)
	c.want(part(1), http.StatusOK, "part 1 before S3 hangs", nil)
	faults.hang()
	began = time.Now()
	wantStorageUnavailable(t, "a part while S3 hangs", part(2))
	if took := time.Since(began); took > storageTimeout+5*time.Second {
		t.Fatalf("a part while S3 hangs answered after %v, want about the storage timeout of %v", took, storageTimeout)
	}
	if n := tries(partRequest, statusHung); n != 1 {
		t.Fatalf("S3 saw %d tries of one part while hung, want 1: %q", n, faults.requests())
	}
	t.Logf("S3 hung: a part answered 503 after %v", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	wantStorageUnavailable(t, "a creation while S3 hangs", create("hung-again"))
	n := tries(createRequest, statusHung)
	if n < 2 || n > 3 {
		t.Fatalf("S3 saw %d tries of one creation while hung, want 2 or 3 (the SDK's standard retryer): %q", n, faults.requests())
	}
	// Each try waits the timeout; the retryer's backoff between tries is under 20s in all.
	if took := time.Since(began); took > time.Duration(n)*storageTimeout+20*time.Second {
		t.Fatalf("a creation while S3 hangs answered after %v, want at most %d tries of %v and their backoff", took, n, storageTimeout)
	}
	t.Logf("S3 hung: a creation answered 503 after %d tries in %v", n, time.Since(began).Round(time.Millisecond))
	if status, storage := c.readyz(0); status != http.StatusServiceUnavailable || storage != "unavailable" {
		t.Fatalf("/readyz while S3 hangs: %d, storage %q; want 503, storage unavailable", status, storage)
	}
	faults.set(0, anyRequest, 0, false, 0)
	for n := 2; n <= 3; n++ {
		c.want(part(n), http.StatusOK, fmt.Sprintf("part %d once S3 answers again", n), nil)
	}
	complete()

	// S3 slow: everything takes longer and still works; slower than /readyz waits, it is not ready.
	faults.set(0, anyRequest, 0, false, 200*time.Millisecond)
	c.want(create("slow"), http.StatusCreated, "create on a slow S3", &session)
	for n := 1; n <= 3; n++ {
		c.want(part(n), http.StatusOK, fmt.Sprintf("part %d", n), nil)
	}
	complete()
	if status, _ := c.readyz(0); status != http.StatusOK {
		t.Fatalf("/readyz on an S3 slowed by 200ms: %d, want 200", status)
	}
	faults.set(0, anyRequest, 0, false, 6*time.Second)
	if status, storage := c.readyz(0); status != http.StatusServiceUnavailable || storage != "unavailable" {
		t.Fatalf("/readyz on an S3 slower than its 5s timeout: %d, storage %q; want 503, storage unavailable", status, storage)
	}
	faults.set(0, anyRequest, 0, false, 0)
}

// privatePostgres is a PostgreSQL server of the test's own, which it may stop and start: the
// machine's server is shared with every other test. It runs Debian's binaries (the postgresql
// package, which .ci/run installs), as the user postgres when the test runs as root, since
// postgres refuses to run as root.
type privatePostgres struct {
	t          *testing.T
	bin, dir   string
	port       int
	asPostgres []string // the command prefix that runs a binary as the user postgres; none when not root
}

// startPrivatePostgres initialises a cluster in a temporary directory and starts it on a free port
// of 127.0.0.1; it is stopped and removed when the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("no /usr/lib/postgresql/*/bin/pg_ctl: install Debian's postgresql package (.ci/run does)")
	}
	slices.Sort(bins) // the newest version last, as long as they have as many digits
	pg := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	// Under /tmp itself, not t.TempDir(), whose parent only root may enter.
	dir, err := os.MkdirTemp("", "ingest-e2e-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	pg.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the test runs PostgreSQL as the user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asPostgres = []string{"runuser", "-u", "postgres", "--"}
	}
	port, err := strconv.Atoi(freeAddr(t)[len("127.0.0.1:"):])
	if err != nil {
		t.Fatal(err)
	}
	pg.port = port
	pg.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	pg.start()
	t.Cleanup(func() {
		// A test that failed between a stop and a start leaves nothing to stop.
		argv := append(slices.Clone(pg.asPostgres), filepath.Join(pg.bin, "pg_ctl"), "stop", "-m", "immediate", "-D", filepath.Join(dir, "data"))
		_ = exec.Command(argv[0], argv[1:]...).Run()
	})
	return pg
}

// URL is the URL of the server's database postgres.
func (pg *privatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// run runs a binary of the server's, as its user, and fails the test if it fails.
func (pg *privatePostgres) run(name string, args ...string) {
	pg.t.Helper()
	argv := append(append(slices.Clone(pg.asPostgres), filepath.Join(pg.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = pg.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// start starts the server and waits until it takes connections.
func (pg *privatePostgres) start() {
	pg.t.Helper()
	pg.run("pg_ctl", "start", "-w", "-D", filepath.Join(pg.dir, "data"), "-l", filepath.Join(pg.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir))
}

// stop stops the server at once, as a crash would: no checkpoint, the clients' connections cut;
// what was committed survives in the write-ahead log.
func (pg *privatePostgres) stop() {
	pg.t.Helper()
	pg.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", filepath.Join(pg.dir, "data"))
}

// TestPostgreSQLRestartLosesNoAcknowledgedUpload stores files from several clients while the
// portal's PostgreSQL server stops at once and starts again. Requests fail meanwhile (5xx, which
// a client sends again) and /readyz names the database; the portal reconnects by itself, and every
// file answered 2xx, before, during or after, is STORED with its bytes and has its event.
func TestPostgreSQLRestartLosesNoAcknowledgedUpload(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	p := startPortal(t, buildIngest(t), pg.URL())
	c := newSpread(t, []*portal{p})

	var mu sync.Mutex
	var stored []sent
	failures, unavailable := 0, 0
	storedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(stored)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := randomData(4096 + i)
				a, err := c.once(p.URL, "POST", fmt.Sprintf("/api/v1/files?filename=w%d-%d.bin", w, i), data)
				mu.Lock()
				switch {
				case err == nil && a.status == http.StatusCreated:
					var file struct {
						ID string `json:"id"`
					}
					if err := json.Unmarshal(a.body, &file); err != nil {
						t.Errorf("a 201 with %q: %v", a.body, err)
					}
					stored = append(stored, sent{fileID: file.ID, data: data})
				case err == nil && a.status < 500:
					t.Errorf("a store answered %d %s, neither 201 nor a failure to send again", a.status, a.body)
				default:
					failures++
					if err == nil {
						switch code := errorCode(a); {
						case a.status == http.StatusServiceUnavailable && code == "DATABASE_UNAVAILABLE" && a.header.Get("Retry-After") != "":
							unavailable++
						case a.status != http.StatusInternalServerError || code != "INTERNAL":
							t.Errorf("a store answered %d %s, want 503 DATABASE_UNAVAILABLE with Retry-After, or 500 INTERNAL", a.status, a.body)
						}
					}
				}
				mu.Unlock()
				if err != nil || a.status >= 500 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	waitStored := func(n int, what string) {
		t.Helper()
		for deadline := time.Now().Add(clusterWait); storedCount() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("%d files stored, want %d %s within %v\n%s", storedCount(), n, what, clusterWait, p.Log())
			}
		}
	}
	waitStored(10, "before the restart")
	pg.stop()
	before := storedCount()
	time.Sleep(300 * time.Millisecond) // the clients keep sending to a portal without its database
	if a, err := c.once(p.URL, "GET", "/readyz", nil); err != nil || a.status != http.StatusServiceUnavailable ||
		!strings.Contains(string(a.body), `"database":"unavailable"`) {
		t.Errorf("/readyz without the database: %v %d %s; want 503 naming the database", err, a.status, a.body)
	}
	pg.start()
	restarted := time.Now()
	waitStored(before+10, "after the restart")
	t.Logf("stored again %v after PostgreSQL started again", time.Since(restarted).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	t.Logf("%d files stored, %d failed requests sent again, %d of them answered 503 DATABASE_UNAVAILABLE", len(stored), failures, unavailable)
	if failures == 0 {
		t.Fatal("no request failed: the restart went unnoticed, the test proved nothing")
	}
	if unavailable == 0 {
		t.Error("no request answered 503 DATABASE_UNAVAILABLE while the database was away")
	}
	c.checkFiles(stored)
	// Each file's event is in its transaction: the default sink, the data directory's events file,
	// receives every one.
	events := filepath.Join(p.dataDir, "events.jsonl")
	for deadline := time.Now().Add(clusterWait); ; time.Sleep(50 * time.Millisecond) {
		raw, _ := os.ReadFile(events)
		missing := 0
		for _, f := range stored {
			if !strings.Contains(string(raw), `"subject":"`+f.fileID+`"`) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stored files have no event in %s after %v", missing, events, clusterWait)
		}
	}
}
