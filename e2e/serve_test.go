package e2e_test

// The portal under test: the real ingest binary, built from this tree, run as "ingest serve" on a
// data directory of its own and a free port.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveWait bounds the wait for the server to listen and print the admin token.
const serveWait = 30 * time.Second

var listening = regexp.MustCompile(`msg=listening url=(\S+)`)

// portal is one running "ingest serve".
type portal struct {
	t     *testing.T
	URL   string
	Token string // the bootstrap admin's token, read from the "admin token:" line

	mu   sync.Mutex
	logs bytes.Buffer
}

// buildIngest builds the ingest binary into a temporary directory.
func buildIngest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ingest").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startPortal runs "ingest serve" with a data directory of its own on the database at dbURL, and
// waits until it listens and has printed the admin token. The process is killed when the test
// ends.
func startPortal(t *testing.T, bin, dbURL string, args ...string) *portal {
	t.Helper()
	p := &portal{t: t}
	dataDir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Dir = dataDir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "INGEST_DATABASE_URL="+dbURL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	token := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.write("stdout: " + sc.Text() + "\n")
			if secret, ok := strings.CutPrefix(sc.Text(), "admin token: "); ok {
				token <- secret
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.After(serveWait)
	select {
	case p.Token = <-token:
	case <-exited:
		t.Fatalf("serve exited: %v\n%s", cmd.ProcessState, p.Log())
	case <-deadline:
		t.Fatalf("serve printed no admin token within %v\n%s", serveWait, p.Log())
	}
	for p.URL == "" {
		if m := listening.FindStringSubmatch(p.Log()); m != nil {
			p.URL = m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("serve exited: %v\n%s", cmd.ProcessState, p.Log())
		case <-deadline:
			t.Fatalf("serve did not listen within %v\n%s", serveWait, p.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p
}

// Log returns what the server has written so far.
func (p *portal) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *portal) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs.WriteString(s)
}

// lockedWriter appends the server's standard error to its log.
type lockedWriter struct{ p *portal }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.write(string(b))
	return len(b), nil
}

// call sends an API request with the admin's token and decodes the JSON answer into out; it fails
// the test unless the answer has the status want.
func (p *portal) call(method, path string, body io.Reader, want int, out any) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.URL+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	if resp.StatusCode != want {
		p.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %v", method, path, fmt.Errorf("decode %q: %w", raw, err))
		}
	}
}
