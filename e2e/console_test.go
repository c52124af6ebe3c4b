package e2e_test

import (
	"bytes"
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

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
)

// browserWait bounds the browser script; it takes a few seconds.
const browserWait = 3 * time.Minute

// screenshotLimit is the largest screenshot docs/ accepts.
const screenshotLimit = 300 << 10

// screenshotDir is where the SQLite run saves the screenshots of docs/admin.md.
const screenshotDir = "../docs/admin"

// scriptResult is what admin.mjs prints as its last line.
type scriptResult struct {
	BatchID      uuid.UUID `json:"batch_id"`
	RetriedEvent uuid.UUID `json:"retried_event"`
	Screenshots  []string  `json:"screenshots"`
}

func TestAdminConsoleInChromium(t *testing.T) {
	ensureTools(t)
	bin := buildIngest(t)
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testdb.URL(t, dialect)
			// Small parts, so the larger file goes up in several parts in parallel.
			p := startPortal(t, bin, dbURL, "--chunk-size", "1MiB")
			failed := failOneEvent(t, p, dbURL)

			files := map[string][]byte{
				"survey-2026.csv": []byte("site,depth_m\nA,12.5\nB,7.25\n"),
				"scan-0042.bin":   make([]byte, 3<<20+12345),
			}
			_, _ = rand.Read(files["scan-0042.bin"]) // never fails (crypto/rand)
			dir := t.TempDir()
			var paths []string
			for name, data := range files {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, path)
			}
			shots := t.TempDir()
			if dialect == "sqlite" {
				shots = screenshotDir
			}
			res := runScript(t, p, map[string]string{
				"INGEST_URL":          p.URL,
				"INGEST_ADMIN_TOKEN":  p.Token,
				"INGEST_UPLOADS":      strings.Join(paths, string(os.PathListSeparator)),
				"INGEST_FAILED_EVENT": failed.String(),
				"INGEST_SCREENSHOTS":  shots,
				"INGEST_CHROMIUM":     chromiumPath,
			})

			checkBatch(t, p, res.BatchID, files)
			if res.RetriedEvent != failed {
				t.Errorf("the script retried event %s, want %s", res.RetriedEvent, failed)
			}
			checkRetried(t, dbURL, failed)
			checkScreenshots(t, shots, res.Screenshots)
		})
	}
}

// failOneEvent stores a file through the API and makes its file.stored event FAILED the way a
// relay does when its sink refuses an event for good (claim, then mark failed), and returns the
// event's id: the event the operator retries in the browser.
func failOneEvent(t *testing.T, p *portal, dbURL string) uuid.UUID {
	t.Helper()
	var f struct {
		ID uuid.UUID `json:"id"`
	}
	p.call("POST", "/api/v1/files?filename=refused-by-the-sink.json", strings.NewReader(`{"reading": 1}`), 201, &f)
	store := openStore(t, dbURL)
	ctx := context.Background()
	claimed, err := store.ClaimEvents(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].FileID != f.ID {
		t.Fatalf("claimed %d events, want the one of file %s", len(claimed), f.ID)
	}
	e := claimed[0]
	if err := store.MarkFailed(ctx, e.ID, e.AttemptCount, "webhook answered 400 Bad Request: a permanent failure"); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// openStore opens the portal's database beside the running server.
func openStore(t *testing.T, dbURL string) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// runScript runs admin.mjs in Node with env and returns what it reports.
func runScript(t *testing.T, p *portal, env map[string]string) scriptResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "admin.mjs")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node admin.mjs: %v\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- server ---\n%s", err, stdout.String(), stderr.String(), p.Log())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res scriptResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("admin.mjs reported %q: %v", stdout.String(), err)
	}
	return res
}

// checkBatch checks through the API that the browser stored the files, whole, in one batch that
// it sealed.
func checkBatch(t *testing.T, p *portal, batchID uuid.UUID, want map[string][]byte) {
	t.Helper()
	var b struct {
		Status      string `json:"status"`
		TotalFiles  int    `json:"total_files"`
		StoredCount int    `json:"stored_count"`
	}
	p.call("GET", "/api/v1/batches/"+batchID.String(), nil, 200, &b)
	if b.Status != string(ingest.BatchComplete) || b.TotalFiles != len(want) || b.StoredCount != len(want) {
		t.Errorf("batch %s: %+v, want COMPLETE with %d files stored", batchID, b, len(want))
	}
	var list struct {
		Items []struct {
			Status           string `json:"status"`
			OriginalFilename string `json:"original_filename"`
			SHA256           string `json:"sha256"`
			SizeBytes        int    `json:"size_bytes"`
		} `json:"items"`
	}
	p.call("GET", "/api/v1/files?batch_id="+batchID.String(), nil, 200, &list)
	var names []string
	for _, f := range list.Items {
		names = append(names, f.OriginalFilename)
		data, ok := want[f.OriginalFilename]
		sum := sha256.Sum256(data)
		if !ok || f.Status != "STORED" || f.SHA256 != hex.EncodeToString(sum[:]) || f.SizeBytes != len(data) {
			t.Errorf("file %s: %s, sha256 %s, %d bytes; want STORED with the bytes sent", f.OriginalFilename, f.Status, f.SHA256, f.SizeBytes)
		}
	}
	if len(names) != len(want) {
		t.Errorf("batch %s holds %v, want the %d files uploaded", batchID, names, len(want))
	}
}

// checkRetried checks that the operator's retry moved the failed event back to PENDING.
func checkRetried(t *testing.T, dbURL string, id uuid.UUID) {
	t.Helper()
	e, err := openStore(t, dbURL).OutboxEvent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status == ingest.OutboxFailed {
		t.Errorf("event %s is still %s after the retry", id, e.Status)
	}
}

// checkScreenshots checks that every screenshot the script reports is a PNG small enough for
// docs/.
func checkScreenshots(t *testing.T, dir string, names []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("the script took no screenshot")
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) >= screenshotLimit {
			t.Errorf("%s: %d bytes, want a PNG under %d", name, len(b), screenshotLimit)
		}
	}
}
