package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/iobound"
	"github.com/ingest-portal/ingest/internal/testkit/testbin"
)

// ingestProgram is the real binary, built once per test binary by the first test that needs it.
var ingestProgram = testbin.New(".") // go test runs in the package's directory: "." is ./cmd/ingest

func TestMain(m *testing.M) {
	code := iobound.Main(m)
	ingestProgram.Remove()
	os.Exit(code)
}

// buildIngest returns the path of the real binary, built on the first call.
func buildIngest(t *testing.T) string { return ingestProgram.Path(t) }

// runBinary runs bin with args in a clean environment: the parent's, without any INGEST_*
// variable, plus env.
func runBinary(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir() // so a stray default database would not land in the source tree
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run %s %q: %v", bin, args, err)
	}
	return r
}

func TestBinaryReadsTheDatabaseFromTheEnvironment(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		env := []string{"INGEST_DATABASE_URL=" + url}
		expect := func(wantCode int, args ...string) result {
			t.Helper()
			r := runBinary(t, bin, env, args...)
			if r.code != wantCode {
				t.Fatalf("ingest %s: want exit %d, got\n%v", strings.Join(args, " "), wantCode, r)
			}
			return r
		}

		r := expect(1, "check")
		if !strings.HasPrefix(r.stderr, "ingest: check: ") {
			t.Errorf("check before migrate: got stderr %q", r.stderr)
		}
		r = expect(0, "migrate", "up")
		if r.stdout != appliedAll(t) {
			t.Errorf("migrate up: got %q", r.stdout)
		}
		r = expect(0, "check")
		if want := checkOK(t, dialect); r.stdout != want {
			t.Errorf("check: got %q, want %q", r.stdout, want)
		}
		expect(0, "user", "create", "alice")
		r = expect(0, "token", "create", "--user", "alice", "--name", "ci")
		assertTokenCreated(t, dialect, url, r.stdout, "alice", "ci")
		expect(1, "token", "create", "--user", "bob")
	})
	t.Run("version", func(t *testing.T) {
		r := runBinary(t, bin, nil, "version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ingest ") {
			t.Errorf("want exit 0 and stdout starting with %q, got\n%v", "ingest ", r)
		}
	})
}
