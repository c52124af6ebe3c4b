package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildIngest builds the real binary into a temporary directory and returns its path.
func buildIngest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ingest")
	// go test runs in the package's directory, so "." is ./cmd/ingest.
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

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
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
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
