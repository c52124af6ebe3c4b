package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

func TestServeBootstrapsServesAndStops(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url)
		r.start()
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/api/v1/nothing": 404} {
			resp, body, err := r.request("GET", path, nil)
			if err != nil || resp.StatusCode != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				r.errorf("GET %s: %v %v %s, want %d with JSON", path, resp, err, body, want)
			}
		}
		r.stop()
		out := r.output(1)
		if len(out) != 1 || out[0] != "admin token: "+r.token || !strings.HasPrefix(r.token, "ingest_") {
			r.fatalf("stdout = %q, want one line \"admin token: <secret>\"", out)
		}
		var admin bool
		err := openDB(t, url).QueryRow(`SELECT u.is_admin FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE u.username = 'admin' AND t.token_hash = $1`, ingest.HashToken(r.token)).Scan(&admin)
		if err != nil || !admin {
			t.Errorf("the printed token is not an admin's: %v, admin %v", err, admin)
		}

		r.start()
		r.call("GET", "/api/v1/files", nil, 200, nil) // the first start's token still works
		r.stop()
		if out := r.output(2); len(out) != 0 {
			t.Errorf("the second start printed %q; the admin token is printed once", out)
		}
	})
}

func TestServeDefaultsToTheDataDirectory(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	dir := t.TempDir()
	r := newServeRig(t, bin, "sqlite", "")
	r.dataDir = "" // from the environment twin instead of the flag
	r.env = []string{"INGEST_DATA_DIR=" + dir}
	r.start()
	r.stop()
	if _, err := os.Stat(filepath.Join(dir, "ingest.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}

func TestSIGTERMLetsPartsInFlightFinishWithinTheTimeout(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url, "--shutdown-timeout", "2s")
		r.start()
		part := bytes.Repeat([]byte("p"), 1<<20)
		var sess struct {
			ID string `json:"id"`
		}
		r.call("POST", "/api/v1/uploads", map[string]any{"filename": "f", "size_bytes": 2 << 20, "chunk_size_bytes": 1 << 20}, 201, &sess)

		// Part 1 is half sent when SIGTERM arrives, then finished: the server waits for it.
		finishing := make(chan int, 1)
		pr1, pw1 := io.Pipe()
		go func() { finishing <- putStatus(r, sess.ID, 1, pr1, int64(len(part))) }()
		// Part 2 stalls forever: the server gives up on it when the timeout ends.
		stalled := make(chan int, 1)
		pr2, pw2 := io.Pipe()
		go func() { stalled <- putStatus(r, sess.ID, 2, pr2, int64(len(part))) }()
		pw1.Write(part[:len(part)/2])
		pw2.Write(part[:len(part)/2])
		time.Sleep(200 * time.Millisecond)
		r.signalTerm()
		time.Sleep(200 * time.Millisecond)
		pw1.Write(part[len(part)/2:])
		pw1.Close()
		if got := <-finishing; got != http.StatusOK {
			r.errorf("the part in flight at SIGTERM answered %d, want 200", got)
		}
		r.waitExit()
		pw2.CloseWithError(errors.New("the client gives up"))
		<-stalled

		statuses := map[int]string{}
		rows, err := openDB(t, url).Query(`SELECT part_number, status FROM upload_parts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n int
			var st string
			if err := rows.Scan(&n, &st); err != nil {
				t.Fatal(err)
			}
			statuses[n] = st
		}
		if statuses[1] != "RECEIVED" || statuses[2] == "RECEIVED" {
			t.Errorf("parts after shutdown = %v; want 1 RECEIVED and 2 not", statuses)
		}
	})
}

// putStatus sends a part from body and returns the answer's status, 0 when the request failed.
func putStatus(r *serveRig, session string, n int, body io.Reader, size int64) int {
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/uploads/%s/parts/%d", r.srv.url, session, n), body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeWritesACPUProfileOfItsRun: --cpuprofile leaves a complete profile once serve stops,
// and a file that cannot be created stops serve before it starts.
func TestServeWritesACPUProfileOfItsRun(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	r := newServeRig(t, bin, "sqlite", "", "--cpuprofile", path)
	r.start()
	r.call("GET", "/readyz", nil, 200, nil)
	r.stop()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzip-compressed, as pprof writes it: %v", err)
	}
	profile, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("the profile is cut short: %v", err)
	}
	if !bytes.Contains(profile, []byte("cpu")) || !bytes.Contains(profile, []byte("nanoseconds")) {
		t.Errorf("the profile (%d bytes) names no CPU samples", len(profile))
	}

	res := ingestCLI(t, "serve", "--data-dir", t.TempDir(), "--cpuprofile", filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if res.code != 1 || !strings.Contains(res.stderr, "--cpuprofile") {
		t.Errorf("serve with a profile it cannot create: %v; want exit 1 naming --cpuprofile", res)
	}
}

// TestReadyzFailsOnceTheSchemaIsRolledBackUnderServe: a running portal whose schema is rolled back
// under it stops saying it is ready, and names the check.
func TestReadyzFailsOnceTheSchemaIsRolledBackUnderServe(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url)
		r.start()
		r.call("GET", "/readyz", nil, 200, nil)
		mustSucceed(t, "migrate", "down", "--to", "0", "--yes", "--database-url", url)
		var ready struct {
			Checks map[string]string `json:"checks"`
		}
		r.call("GET", "/readyz", nil, 503, &ready)
		if ready.Checks["schema"] != "unavailable" {
			r.errorf("/readyz after the schema was rolled back: checks %v, want schema unavailable", ready.Checks)
		}
		r.kill()
	})
}
