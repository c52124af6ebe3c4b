package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/doccode"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// TestTusDocsQuickStart follows docs/tus.md's quick start as a new user would: a portal with its
// defaults, a user and a token made with the CLI, and the page's upload.mjs run with tus-js-client
// 4.3.1. The file must be STORED with the SHA-256 of its bytes, which upload.mjs prints, and its
// file.stored event must reach the default event log.
func TestTusDocsQuickStart(t *testing.T) {
	t.Parallel()
	blocks := doccode.Blocks(t, "../docs/tus.md", "## Quick start with tus-js-client", "js")
	if len(blocks) != 1 {
		t.Fatalf("docs/tus.md's quick start has %d js blocks, want upload.mjs alone", len(blocks))
	}
	ensureNodeModules(t, "tusjs", "tus-js-client")
	modules, err := filepath.Abs(filepath.Join("tusjs", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	bin := buildIngest(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := startPortal(t, bin, testdb.URL(t, dialect))
			token := p.createUser("alice")

			// An empty directory with upload.mjs and the client installed, as the page says.
			dir := t.TempDir()
			if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "upload.mjs"), []byte(blocks[0]), 0o644); err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 9<<20+123) // more than one part of the default 8 MiB
			if _, err := rand.Read(data); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "photo.jpg"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			want := hex.EncodeToString(sum[:])

			ctx, cancel := context.WithTimeout(context.Background(), nodeTestWait)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "upload.mjs", "photo.jpg")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "INGEST_URL="+p.URL, "INGEST_TOKEN="+token)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node upload.mjs photo.jpg: %v\n%s\n--- server ---\n%s", err, out, p.Log())
			}
			printed := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(line, " ")
				printed[k] = v
			}
			if printed["sha-256"] != want {
				t.Fatalf("upload.mjs printed %q, want the file's SHA-256 %s", out, want)
			}

			var file struct {
				Status           string `json:"status"`
				SHA256           string `json:"sha256"`
				OriginalFilename string `json:"original_filename"`
				SizeBytes        int64  `json:"size_bytes"`
			}
			callAs(t, p, token, "/api/v1/files/"+printed["file"], &file)
			if file.Status != "STORED" || file.SHA256 != want || file.SizeBytes != int64(len(data)) || file.OriginalFilename != "photo.jpg" {
				t.Fatalf("GET the file: %+v, want photo.jpg STORED with %d bytes and sha256 %s", file, len(data), want)
			}
			waitForLoggedEvent(t, filepath.Join(p.dataDir, "events.jsonl"), printed["file"], want)
		})
	}
}

// waitForLoggedEvent waits until the JSONL event log at path holds the file.stored event of
// fileID with sha256.
func waitForLoggedEvent(t *testing.T, path, fileID, sha string) {
	t.Helper()
	for deadline := time.Now().Add(eventWait); ; time.Sleep(100 * time.Millisecond) {
		if f, err := os.Open(path); err == nil {
			lines := bufio.NewScanner(f)
			lines.Buffer(nil, 1<<20)
			for lines.Scan() {
				var e struct {
					Type string `json:"type"`
					Data struct {
						FileID string `json:"file_id"`
						SHA256 string `json:"sha256"`
					} `json:"data"`
				}
				if json.Unmarshal(lines.Bytes(), &e) == nil && e.Type == "ingest.file.stored" && e.Data.FileID == fileID {
					f.Close()
					if e.Data.SHA256 != sha {
						t.Fatalf("the event of file %s has sha256 %s, want %s", fileID, e.Data.SHA256, sha)
					}
					return
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no file.stored event of file %s in %s after %v", fileID, path, eventWait)
		}
	}
}
