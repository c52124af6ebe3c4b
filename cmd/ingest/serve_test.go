package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/ingest-portal/ingest"
)

// server is a running "ingest serve" process.
type server struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stdout []string // lines, guarded by mu while the process runs
	done   chan error
}

var listening = regexp.MustCompile(`msg=listening url=(\S+)`)

// startServer runs the real binary's "serve" on a free port and waits until it listens.
func startServer(t *testing.T, bin string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })

	urls := make(chan string, 1)
	var logs strings.Builder
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		for l := range lines {
			s.mu.Lock()
			s.stdout = append(s.stdout, l)
			s.mu.Unlock()
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-urls:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve exited before listening: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30 s\n%s", logs.String())
	}
	return s
}

// stop sends SIGTERM and returns the exit error (nil for exit 0).
func (s *server) stop(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
		return nil
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %q is not JSON", url, body)
	}
	return resp.StatusCode, v
}

func TestServeBootstrapsServesAndStops(t *testing.T) {
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		env := []string{"INGEST_DATABASE_URL=" + url}
		s := startServer(t, bin, env)
		if code, body := getJSON(t, s.url+"/healthz"); code != 200 || body["status"] != "ok" {
			t.Errorf("healthz = %d %v", code, body)
		}
		if code, body := getJSON(t, s.url+"/readyz"); code != 200 || body["status"] != "ok" {
			t.Errorf("readyz = %d %v", code, body)
		}
		if code, body := getJSON(t, s.url+"/api/v1/nothing"); code != 404 || body["error"].(map[string]any)["code"] != "NOT_FOUND" {
			t.Errorf("unknown route = %d %v", code, body)
		}
		if err := s.stop(t); err != nil {
			t.Fatalf("serve exited with %v after SIGTERM, want 0", err)
		}
		if len(s.stdout) != 1 || !strings.HasPrefix(s.stdout[0], "admin token: ingest_") {
			t.Fatalf("stdout = %q, want one line \"admin token: <secret>\"", s.stdout)
		}
		secret := strings.TrimPrefix(s.stdout[0], "admin token: ")
		db := openDB(t, url)
		var admin bool
		err := db.QueryRow(`SELECT u.is_admin FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE u.username = 'admin' AND t.token_hash = $1`, ingest.HashToken(secret)).Scan(&admin)
		if err != nil || !admin {
			t.Errorf("the printed token is not an admin's: %v, admin %v", err, admin)
		}

		again := startServer(t, bin, env)
		if err := again.stop(t); err != nil {
			t.Fatal(err)
		}
		if len(again.stdout) != 0 {
			t.Errorf("the second start printed %q; the admin token is printed once", again.stdout)
		}
	})
}

func TestServeDefaultsToTheDataDirectory(t *testing.T) {
	bin := buildIngest(t)
	dir := t.TempDir()
	s := startServer(t, bin, []string{"INGEST_DATA_DIR=" + dir})
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ingest.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}

// adminToken returns the token the server printed on its first start.
func (s *server) adminToken(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, l := range s.stdout {
			if secret, ok := strings.CutPrefix(l, "admin token: "); ok {
				s.mu.Unlock()
				return secret
			}
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the server printed no admin token")
	return ""
}

func TestSIGTERMLetsPartsInFlightFinishWithinTheTimeout(t *testing.T) {
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		env := []string{"INGEST_DATABASE_URL=" + url}
		s := startServer(t, bin, env, "--storage", "file://"+t.TempDir(), "--shutdown-timeout", "2s")
		token := s.adminToken(t)
		part := bytes.Repeat([]byte("p"), 1<<20)
		sess := apiCall(t, s.url, token, "POST", "/api/v1/uploads", strings.NewReader(`{"filename":"f","size_bytes":2097152,"chunk_size_bytes":1048576}`))

		// Part 1 is half sent when SIGTERM arrives, then finished: the server waits for it.
		finishing := make(chan int, 1)
		pr1, pw1 := io.Pipe()
		go func() { finishing <- putStatus(t, s.url, token, sess, 1, pr1, int64(len(part))) }()
		// Part 2 stalls forever: the server gives up on it when the timeout ends.
		stalled := make(chan int, 1)
		pr2, pw2 := io.Pipe()
		go func() { stalled <- putStatus(t, s.url, token, sess, 2, pr2, int64(len(part))) }()
		pw1.Write(part[:len(part)/2])
		pw2.Write(part[:len(part)/2])
		time.Sleep(200 * time.Millisecond)
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		pw1.Write(part[len(part)/2:])
		pw1.Close()
		if got := <-finishing; got != http.StatusOK {
			t.Errorf("the part in flight at SIGTERM answered %d, want 200", got)
		}
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(15 * time.Second):
			t.Fatal("the server did not stop after its shutdown timeout")
		}
		pw2.CloseWithError(errors.New("the client gives up"))
		<-stalled

		db := openDB(t, url)
		statuses := map[int]string{}
		rows, err := db.Query(`SELECT part_number, status FROM upload_parts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n int
			var st string
			rows.Scan(&n, &st)
			statuses[n] = st
		}
		if statuses[1] != "RECEIVED" || statuses[2] == "RECEIVED" {
			t.Errorf("parts after shutdown = %v; want 1 RECEIVED and 2 not", statuses)
		}
	})
}

// apiCall sends a request that must succeed and returns the "id" of its JSON answer.
func apiCall(t *testing.T, base, token, method, path string, body io.Reader) string {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, v, err)
	}
	id, _ := v["id"].(string)
	return id
}

// putStatus sends a part from body and returns the answer's status, 0 when the request failed.
func putStatus(t *testing.T, base, token, session string, n int, body io.Reader, size int64) int {
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/uploads/%s/parts/%d", base, session, n), body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
