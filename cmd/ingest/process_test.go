package main

// The harness for tests that run the real "ingest serve" process: start it (again and again on
// the same database and storage), stop it with SIGTERM or kill it with SIGKILL, talk to its API,
// and fail with the logs of every run.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listeningLine finds the server's URL in its log.
var listeningLine = regexp.MustCompile(`msg=listening url=(\S+)`)

// serveWait bounds every wait for the server or a request.
const serveWait = 15 * time.Second

// serveRig runs "ingest serve" on one database and one storage directory, possibly several times
// in a row, and collects the logs of every run for failure messages.
type serveRig struct {
	t       *testing.T
	bin     string
	dialect string
	dbURL   string   // given as INGEST_DATABASE_URL; "" leaves the data directory's default
	storage string   // the local blob store's directory
	dataDir string   // --data-dir, the same for every run; "" passes none
	args    []string // more flags for serve
	env     []string // more environment variables
	client  *http.Client

	mu     sync.Mutex
	logs   strings.Builder
	stdout [][]string // each run's standard output, by line
	starts int

	srv   *serveProcess
	token string // the bootstrap admin's secret, printed by the first start
	db    *sql.DB
}

// serveProcess is one run of "ingest serve".
type serveProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed once the process has been waited for
}

// newServeRig returns a rig for the binary bin on the database at dbURL, with a storage and a
// data directory of its own and args as more flags.
func newServeRig(t *testing.T, bin, dialect, dbURL string, args ...string) *serveRig {
	transport := &http.Transport{}
	r := &serveRig{
		t: t, bin: bin, dialect: dialect, dbURL: dbURL, storage: t.TempDir(), dataDir: t.TempDir(), args: args,
		client: &http.Client{Transport: transport, Timeout: serveWait},
	}
	t.Cleanup(transport.CloseIdleConnections)
	return r
}

// log returns everything every run of the server has written so far.
func (r *serveRig) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

// output returns the standard output of the run-th start (1 is the first), by line.
func (r *serveRig) output(run int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stdout[run-1]...)
}

// fatalf fails the test with the servers' logs.
func (r *serveRig) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf(format+"\n--- server logs ---\n%s", append(args, r.log())...)
}

// errorf records a failure with the servers' logs.
func (r *serveRig) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf(format+"\n--- server logs ---\n%s", append(args, r.log())...)
}

// start runs "ingest serve" and waits until it listens and, on the first start, has printed the
// admin token.
func (r *serveRig) start() {
	r.t.Helper()
	r.startOn("127.0.0.1:0")
}

// restartOnTheSameAddress kills the running server and starts it again where it listened, as a
// restarted service comes back: a client holding the old URL carries on.
func (r *serveRig) restartOnTheSameAddress() {
	r.t.Helper()
	u, err := url.Parse(r.srv.url)
	if err != nil {
		r.fatalf("serve's URL: %v", err)
	}
	r.kill()
	r.startOn(u.Host)
}

// startOn starts the server listening on addr.
func (r *serveRig) startOn(addr string) {
	r.t.Helper()
	r.mu.Lock()
	r.starts++
	n := r.starts
	r.stdout = append(r.stdout, nil)
	r.mu.Unlock()
	args := []string{"serve", "--addr", addr, "--storage", "file://" + r.storage}
	if r.dataDir != "" {
		args = append(args, "--data-dir", r.dataDir)
	}
	cmd := exec.Command(r.bin, append(args, r.args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if r.dbURL != "" {
		cmd.Env = append(cmd.Env, "INGEST_DATABASE_URL="+r.dbURL)
	}
	cmd.Env = append(cmd.Env, r.env...)
	cmd.Dir = r.t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	s := &serveProcess{cmd: cmd, done: make(chan struct{})}
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(serveWait):
			r.t.Errorf("serve #%d (pid %d) was not reaped within %v of SIGKILL", n, cmd.Process.Pid, serveWait)
		}
	})

	urls := make(chan string, 1)
	tokens := make(chan string, 1)
	var readers sync.WaitGroup
	scan := func(pipe io.Reader, stream string, match func(line string)) {
		defer readers.Done()
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			fmt.Fprintf(&r.logs, "serve#%d %s: %s\n", n, stream, line)
			if stream == "stdout" {
				r.stdout[n-1] = append(r.stdout[n-1], line)
			}
			r.mu.Unlock()
			match(line)
		}
	}
	readers.Add(2)
	go scan(stderr, "stderr", func(line string) {
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			select {
			case urls <- m[1]:
			default:
			}
		}
	})
	go scan(stdout, "stdout", func(line string) {
		if secret, ok := strings.CutPrefix(line, "admin token: "); ok {
			select {
			case tokens <- secret:
			default:
			}
		}
	})
	go func() {
		readers.Wait() // Wait may only be called once the pipes are drained
		_ = cmd.Wait()
		close(s.done)
	}()

	select {
	case s.url = <-urls:
	case <-s.done:
		r.fatalf("serve #%d exited before listening: %v", n, cmd.ProcessState)
	case <-time.After(serveWait):
		r.fatalf("serve #%d did not listen within %v", n, serveWait)
	}
	if r.token == "" {
		select {
		case r.token = <-tokens:
		case <-time.After(serveWait):
			r.fatalf("serve #%d printed no admin token within %v", n, serveWait)
		}
	}
	r.srv = s
}

// kill sends SIGKILL to the running server and waits until it is gone. It fails the test unless
// the process died of that signal, so a server that had already exited cannot pass for a crash.
func (r *serveRig) kill() {
	r.t.Helper()
	s := r.srv
	if err := s.cmd.Process.Kill(); err != nil {
		r.fatalf("kill serve: %v", err)
	}
	r.wait("SIGKILL")
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		r.fatalf("serve ended with %v, not by our SIGKILL", s.cmd.ProcessState)
	}
	r.srv = nil
}

// signalTerm sends SIGTERM to the running server, which then shuts down.
func (r *serveRig) signalTerm() {
	r.t.Helper()
	if err := r.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.fatalf("signal serve: %v", err)
	}
}

// stop sends SIGTERM, waits for the server to end, and fails the test unless it exited 0.
func (r *serveRig) stop() {
	r.t.Helper()
	r.signalTerm()
	r.waitExit()
}

// waitExit waits for the server to end and fails the test unless it exited 0.
func (r *serveRig) waitExit() {
	r.t.Helper()
	r.wait("SIGTERM")
	if state := r.srv.cmd.ProcessState; !state.Success() {
		r.fatalf("serve ended with %v after SIGTERM, want exit 0", state)
	}
	r.srv = nil
}

func (r *serveRig) wait(after string) {
	r.t.Helper()
	select {
	case <-r.srv.done:
	case <-time.After(serveWait):
		r.fatalf("serve was not gone within %v of %s", serveWait, after)
	}
}

// request sends an authenticated request to the running server; body is JSON unless it is a
// []byte, which is sent raw with its length.
func (r *serveRig) request(method, path string, body any) (*http.Response, []byte, error) {
	r.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
		contentType = "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		contentType = "application/json"
	}
	req, err := http.NewRequest(method, r.srv.url+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// call sends a request, fails the test unless it answers want, and decodes the JSON answer into
// out (when out is not nil). It returns the raw answer.
func (r *serveRig) call(method, path string, body any, want int, out any) []byte {
	r.t.Helper()
	resp, raw, err := r.request(method, path, body)
	if err != nil {
		r.fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		r.fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			r.fatalf("%s %s: %q is not the JSON expected: %v", method, path, raw, err)
		}
	}
	return raw
}
