package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/doccode"
	"github.com/ingest-portal/ingest/sink/webhook"
	"github.com/ingest-portal/ingest/sinktest"
)

const (
	eventsDoc       = "../../docs/events.md"
	verifySection   = "## Verifying a webhook signature"
	tamperedPayload = `{"file_id":"forged"}`
)

// signedRequest returns the headers and body of a request the sink signed with the old and the
// new secret.
func signedRequest(t *testing.T) (http.Header, []byte) {
	t.Helper()
	var header http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	s, err := webhook.New(srv.URL, []string{oldSecret, newSecret}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]; err != nil {
		t.Fatal(err)
	}
	if len(strings.Fields(header.Get("webhook-signature"))) != 2 {
		t.Fatalf("webhook-signature = %q, want two signatures", header.Get("webhook-signature"))
	}
	return header, body
}

// verifierEnv returns the environment the documented verifiers read: the receiver knows only the
// new secret.
func verifierEnv(header http.Header) []string {
	return append(os.Environ(),
		"WEBHOOK_SECRET="+newSecret,
		"WEBHOOK_ID="+header.Get("webhook-id"),
		"WEBHOOK_TIMESTAMP="+header.Get("webhook-timestamp"),
		"WEBHOOK_SIGNATURE="+header.Get("webhook-signature"),
	)
}

// runVerifier runs cmd with body as body.json in its directory and on its standard input, and
// returns its output and whether it exited 0.
func runVerifier(t *testing.T, cmd *exec.Cmd, header http.Header, body []byte) (string, bool) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cmd.Dir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = verifierEnv(header)
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("run %s: %v", cmd.Path, err)
	}
	return strings.TrimSpace(string(out)), err == nil
}

// assertVerifies fails the test unless the verifier that verify runs accepts the signed request
// and refuses it with another body.
func assertVerifies(t *testing.T, verify func() *exec.Cmd, header http.Header, body []byte) {
	t.Helper()
	if out, ok := runVerifier(t, verify(), header, body); !ok || out != "valid" {
		t.Errorf("the signed request: %q, want valid", out)
	}
	if out, ok := runVerifier(t, verify(), header, []byte(tamperedPayload)); ok || !strings.HasPrefix(out, "invalid") {
		t.Errorf("a changed body: %q, want invalid", out)
	}
}

func TestTheDocumentedVerifiersAcceptTheSinksSignature(t *testing.T) {
	header, body := signedRequest(t)

	t.Run("go", func(t *testing.T) {
		blocks := doccode.Blocks(t, eventsDoc, verifySection, "go")
		if len(blocks) != 1 {
			t.Fatalf("%d go blocks, want 1", len(blocks))
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "verify.go"), []byte(blocks[0]), 0o600); err != nil {
			t.Fatal(err)
		}
		build := exec.Command("go", "build", "-o", "verify", "verify.go")
		build.Dir = dir
		build.Env = append(os.Environ(), "GO111MODULE=off", "GOWORK=off")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build the documented example: %v\n%s", err, out)
		}
		verify := func() *exec.Cmd {
			cmd := exec.Command(filepath.Join(dir, "verify"))
			cmd.Dir = dir
			return cmd
		}
		assertVerifies(t, verify, header, body)
	})

	t.Run("shell", func(t *testing.T) {
		blocks := doccode.Blocks(t, eventsDoc, verifySection, "sh")
		if len(blocks) != 1 {
			t.Fatalf("%d sh blocks, want 1", len(blocks))
		}
		dir := t.TempDir()
		script := filepath.Join(dir, "verify.sh")
		if err := os.WriteFile(script, []byte(blocks[0]), 0o600); err != nil {
			t.Fatal(err)
		}
		verify := func() *exec.Cmd {
			cmd := exec.Command("sh", script)
			cmd.Dir = dir
			return cmd
		}
		assertVerifies(t, verify, header, body)
	})
}
