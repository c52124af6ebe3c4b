package e2e_test

// The portal under test: the real ingest binary, built from this tree, run as "ingest serve" on a
// data directory of its own and a free port.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/iobound"
	"github.com/ingest-portal/ingest/internal/testkit/testbin"
	"time"
)

// serveWait bounds the wait for the server to listen and print the admin token.
const serveWait = 30 * time.Second

var listening = regexp.MustCompile(`msg=listening url=(\S+)`)

// portal is one running "ingest serve". It keeps its data directory, database and address, so
// that a test can kill it and start it again where it was.
type portal struct {
	t     *testing.T
	URL   string
	Token string // the bootstrap admin's token, read from the "admin token:" line

	bin, dbURL, dataDir, addr string
	args                      []string
	extraEnv                  []string // added to the environment of serve, such as S3 credentials
	cmd                       *exec.Cmd
	exited                    chan struct{} // closed when cmd has exited

	mu   sync.Mutex
	logs bytes.Buffer
}

// ingestProgram is the ingest binary, built once per test binary by the first test that needs it.
var ingestProgram = testbin.New("../cmd/ingest")

func TestMain(m *testing.M) {
	code := iobound.Main(m)
	ingestProgram.Remove()
	os.Exit(code)
}

// buildIngest returns the path of the ingest binary, built on the first call.
func buildIngest(t *testing.T) string { return ingestProgram.Path(t) }

// startPortal runs "ingest serve" with a data directory of its own on the database at dbURL, and
// waits until it listens and has printed the admin token. The process is killed when the test
// ends.
func startPortal(t *testing.T, bin, dbURL string, args ...string) *portal {
	t.Helper()
	return startPortalAt(t, bin, dbURL, "127.0.0.1:0", args...)
}

// startPortalAt is startPortal listening on addr: a fixed address (freeAddr) lets the portal
// restart where its clients expect it.
func startPortalAt(t *testing.T, bin, dbURL, addr string, args ...string) *portal {
	t.Helper()
	p := &portal{t: t, bin: bin, dbURL: dbURL, dataDir: t.TempDir(), addr: addr, args: args}
	p.launch(true)
	return p
}

// freeAddr returns a loopback address with a port that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// env is the environment of the portal's commands: this process's, less any INGEST_ setting,
// plus the portal's database and data directory and its extraEnv.
func (p *portal) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			env = append(env, kv)
		}
	}
	env = append(env, "INGEST_DATABASE_URL="+p.dbURL, "INGEST_DATA_DIR="+p.dataDir)
	return append(env, p.extraEnv...)
}

// launch starts serve and waits until it listens; with wantToken, also until it has printed the
// admin token, which it does only on its first start on an empty database.
func (p *portal) launch(wantToken bool) {
	t := p.t
	t.Helper()
	cmd := exec.Command(p.bin, append([]string{"serve", "--addr", p.addr, "--data-dir", p.dataDir}, p.args...)...)
	cmd.Dir = p.dataDir
	cmd.Env = p.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	logStart := len(p.Log()) // a restarted portal's log holds the earlier "listening" line too
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
	p.cmd, p.exited = cmd, exited
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.After(serveWait)
	if wantToken {
		select {
		case p.Token = <-token:
		case <-exited:
			t.Fatalf("serve exited: %v\n%s", cmd.ProcessState, p.Log())
		case <-deadline:
			t.Fatalf("serve printed no admin token within %v\n%s", serveWait, p.Log())
		}
	}
	p.URL = ""
	for p.URL == "" {
		if m := listening.FindStringSubmatch(p.Log()[logStart:]); m != nil {
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
}

// kill ends serve with SIGKILL, as a crash or the OOM killer would: no shutdown of any kind.
func (p *portal) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill serve: %v", err)
	}
	<-p.exited
	p.write("--- killed ---\n")
}

// restart starts serve again on the same data directory, database and address.
func (p *portal) restart() {
	p.t.Helper()
	p.write("--- restarted ---\n")
	p.launch(false)
}

// createUser creates a user who is not an administrator, with an API token, through the CLI
// ("ingest user create", "ingest token create") on the portal's database, and returns the
// token's secret.
func (p *portal) createUser(name string) string {
	p.t.Helper()
	p.ingest("user", "create", name)
	out := strings.TrimSpace(p.ingest("token", "create", "--user", name))
	return out[strings.LastIndex(out, "\n")+1:] // the secret is alone on the last line
}

// ingest runs an ingest command on the portal's database and returns its standard output.
func (p *portal) ingest(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.dataDir
	cmd.Env = p.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("ingest %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
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
