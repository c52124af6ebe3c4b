package main

// Tests of real "ingest relay" and "ingest serve" processes delivering the outbox: killed with
// SIGKILL while draining, three at once on one PostgreSQL, and the default events file of serve.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// drainWait bounds how long the relays of a test may take to deliver everything.
const drainWait = 3 * time.Minute

// relayProc is one run of "ingest relay", its standard error kept for assertions and failures.
type relayProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for

	mu     sync.Mutex
	stderr strings.Builder
}

// startRelay runs "ingest relay" on the database at dbURL with args, and waits until it runs.
func startRelay(t *testing.T, bin, dbURL string, args ...string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"relay"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "INGEST_DATABASE_URL="+dbURL)
	cmd.Dir = t.TempDir()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{t: t, cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), `msg="relay started"`) {
				close(started)
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-started:
	case <-p.done:
		t.Fatalf("relay exited before it started: %v\n%s", cmd.ProcessState, p.log())
	case <-time.After(serveWait):
		t.Fatalf("relay did not start within %v\n%s", serveWait, p.log())
	}
	return p
}

func (p *relayProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill sends SIGKILL and fails the test unless the relay died of it.
func (p *relayProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("relay ended with %v, not by our SIGKILL\n%s", p.cmd.ProcessState, p.log())
	}
}

// stop sends SIGTERM and fails the test unless the relay exits 0 in time.
func (p *relayProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(serveWait):
		p.t.Fatalf("relay did not stop within %v of SIGTERM\n%s", serveWait, p.log())
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Fatalf("relay ended with %v after SIGTERM\n%s", p.cmd.ProcessState, p.log())
	}
}

// countDelivered returns how many events are DELIVERED.
func countDelivered(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM portal_event_outbox WHERE status = 'DELIVERED'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitDelivered waits until n events are DELIVERED, failing with the relays' logs after drainWait.
func waitDelivered(t *testing.T, db *sql.DB, n int, relays ...*relayProc) {
	t.Helper()
	deadline := time.Now().Add(drainWait)
	for got := countDelivered(t, db); got < n; got = countDelivered(t, db) {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range relays {
				logs.WriteString(lastLines(p.log(), 20))
			}
			t.Fatalf("%d of %d events delivered after %v\n%s", got, n, drainWait, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}

// eventLines counts the lines of a JSONL events file by CloudEvent id; a missing file has none.
func eventLines(t *testing.T, path string) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			ID      string `json:"id"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s holds a line that is not a CloudEvent: %q", path, line)
		}
		ids[e.ID]++
	}
	return ids
}

// completeLines counts the lines of a file written so far, ended by their newline; a missing file
// has none.
func completeLines(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte("\n"))
}

// wantEveryEvent fails unless the files together hold every one of ids, and only them.
func wantEveryEvent(t *testing.T, ids []uuid.UUID, files ...string) {
	t.Helper()
	seen := map[string]int{}
	lines := 0
	for _, f := range files {
		for id, n := range eventLines(t, f) {
			seen[id] += n
			lines += n
		}
	}
	for _, id := range ids {
		if seen[id.String()] == 0 {
			t.Fatalf("event %s was never delivered (%d of %d distinct ids delivered)", id, len(seen), len(ids))
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("%d distinct ids delivered, want %d", len(seen), len(ids))
	}
	t.Logf("%d events delivered as %d lines (%d sent again: at least once)", len(ids), lines, lines-len(ids))
}

// seedOutbox fills the migrated database at url with n pending events.
func seedOutbox(t *testing.T, url string, n int) (*sql.DB, []uuid.UUID) {
	t.Helper()
	db := openDB(t, url)
	ids, err := outboxseed.Bulk(context.Background(), db, n)
	if err != nil {
		t.Fatal(err)
	}
	return db, ids
}

func TestRelayKilledMidBatchDeliversEveryEventAfterRestart(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		const total = 5000
		db, ids := seedOutbox(t, url, total)
		events := filepath.Join(t.TempDir(), "events.jsonl")
		args := []string{"--events-sink", "file://" + events, "--relay-batch", "20", "--relay-workers", "1", "--relay-lease", "2s"}
		first := startRelay(t, bin, url, args...)
		deadline := time.Now().Add(drainWait)
		for completeLines(t, events) == 0 { // the relay may be in the middle of its next line
			if time.Now().After(deadline) {
				t.Fatalf("nothing delivered within %v\n%s", drainWait, first.log())
			}
			time.Sleep(2 * time.Millisecond)
		}
		first.kill()
		delivered := countDelivered(t, db)
		if delivered >= total {
			t.Fatalf("the relay delivered all %d events before it was killed; the test needs it killed mid-drain", total)
		}
		t.Logf("killed with %d of %d events marked delivered", delivered, total)

		second := startRelay(t, bin, url, args...)
		waitDelivered(t, db, total, second)
		second.stop()
		wantEveryEvent(t, ids, events)
	})
}

// claimLine is the debug log line of a claim (relay.Poll).
var claimLine = regexp.MustCompile(`msg=claimed relay=(\S+) sink=\S+ event=(\S+) attempt=(\d+) claimed_at=(\S+) lease_until=(\S+)`)

// leaseWindow is one relay's hold on one event.
type leaseWindow struct {
	relay      string
	attempt    string
	start, end time.Time
}

func TestThreeRelaysOnOnePostgreSQLShareTheWork(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	const total = 10000
	url := testdb.MigratedURL(t, "postgres")
	db, ids := seedOutbox(t, url, total)
	dir := t.TempDir()
	var relays []*relayProc
	var files []string
	for i := range 3 {
		file := filepath.Join(dir, fmt.Sprintf("events-%d.jsonl", i))
		files = append(files, file)
		relays = append(relays, startRelay(t, bin, url, "--events-sink", "file://"+file, "--log-level", "debug", "--relay-batch", "100"))
	}
	started := time.Now()
	waitDelivered(t, db, total, relays...)
	t.Logf("3 relays delivered %d events in %v", total, time.Since(started).Round(time.Millisecond))
	for _, p := range relays {
		p.stop()
	}
	wantEveryEvent(t, ids, files...)

	windows := map[string][]leaseWindow{}
	perRelay := map[string]int{}
	for _, p := range relays {
		for _, m := range claimLine.FindAllStringSubmatch(p.log(), -1) {
			start, err1 := time.Parse(time.RFC3339Nano, m[4])
			end, err2 := time.Parse(time.RFC3339Nano, m[5])
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("claim line %q: %v", m[0], err)
			}
			windows[m[2]] = append(windows[m[2]], leaseWindow{relay: m[1], attempt: m[3], start: start, end: end})
			perRelay[m[1]]++
		}
	}
	if len(windows) != total {
		t.Fatalf("claims logged for %d events, want %d", len(windows), total)
	}
	t.Logf("claims per relay: %v", perRelay)
	for event, ws := range windows {
		for i, a := range ws {
			for _, b := range ws[i+1:] {
				if a.relay != b.relay && a.start.Before(b.end) && b.start.Before(a.end) {
					t.Errorf("event %s: relay %s (attempt %s, %v–%v) and relay %s (attempt %s, %v–%v) held leases at once",
						event, a.relay, a.attempt, a.start, a.end, b.relay, b.attempt, b.start, b.end)
				}
			}
		}
	}
}

func TestServeWritesEachStoredFilesEventToTheDefaultFile(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	r := newServeRig(t, bin, "sqlite", "")
	r.start()
	var file struct {
		ID string `json:"id"`
	}
	r.call("POST", "/api/v1/files?filename=hello.txt", []byte("hello, relay"), 201, &file)
	stored := time.Now()
	events := filepath.Join(r.dataDir, "events.jsonl")
	for {
		raw, _ := os.ReadFile(events)
		if strings.Contains(string(raw), `"subject":"`+file.ID+`"`) {
			break
		}
		if time.Since(stored) > serveWait {
			r.fatalf("the file's event is not in %s after %v", events, serveWait)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the event reached %s %v after the upload answered", events, time.Since(stored).Round(time.Millisecond))
	r.stop()
}

// metricsURL is the log line of a relay serving its metrics (--metrics-addr).
var metricsURL = regexp.MustCompile(`msg="metrics listening" url=(\S+)`)

// getMetrics returns the status and body of GET url.
func getMetrics(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

func TestARelayApartServesItsMetrics(t *testing.T) {
	bin := buildIngest(t)
	url := testdb.MigratedURL(t, "sqlite")
	const total = 50
	db, _ := seedOutbox(t, url, total)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	p := startRelay(t, bin, url, "--events-sink", "file://"+events, "--metrics-addr", "127.0.0.1:0")
	waitDelivered(t, db, total, p)
	m := metricsURL.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("the relay did not log where its metrics are\n%s", p.log())
	}
	// The relay bumps its counter after the commit that waitDelivered saw, so the last few
	// deliveries may reach /metrics a moment later: poll, within serveWait, until they do.
	want := regexp.MustCompile(`(?m)^ingest_relay_results_total\{[^}]*outcome="delivered"[^}]*\} 50$`)
	deadline := time.Now().Add(serveWait)
	for {
		status, body := getMetrics(t, m[1])
		if status == 200 && want.Match(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d after %v, want 200 with %s in\n%s", m[1], status, serveWait, want, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
}
