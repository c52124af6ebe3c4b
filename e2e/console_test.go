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
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// browserWait bounds the browser script; it takes a few seconds.
const browserWait = 3 * time.Minute

// consoleBigFile is the size of the file the console's upload page pauses and resumes: 20 MiB,
// not a multiple of anything.
const consoleBigFile = 20<<20 + 4321

// screenshotLimit is the largest screenshot docs/ accepts.
const screenshotLimit = 300 << 10

// screenshotsEnv names the variable that, set to 1, makes the SQLite run save its screenshots
// over those of docs/admin.md (in screenshotDir). Otherwise they go to a temporary directory, so a
// test run leaves the work tree as it found it.
const (
	screenshotsEnv = "INGEST_E2E_UPDATE_SCREENSHOTS"
	screenshotDir  = "../docs/admin"
)

// scriptResult is what admin.mjs prints as its last line.
type scriptResult struct {
	BatchID      uuid.UUID `json:"batch_id"`
	RetriedEvent uuid.UUID `json:"retried_event"`
	// PausedAt is the portal's tus offset of the largest file while the page had it paused.
	PausedAt    *int64   `json:"paused_at"`
	Screenshots []string `json:"screenshots"`
}

func TestAdminConsoleInChromium(t *testing.T) {
	t.Parallel()
	ensureTools(t)
	bin := buildIngest(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := testdb.MigratedURL(t, dialect)
			sink := startSink(t)
			// Small parts, so the portal records a paused upload's offset early.
			p := startPortal(t, bin, dbURL, "--chunk-size", "1MiB", "--events-sink", sink.URL, "--webhook-secret", "e2e-test-secret")
			store := openStore(t, dbURL)
			failed := failOneEvent(t, p, store)

			files := map[string][]byte{
				"survey-2026.csv": []byte("site,depth_m\nA,12.5\nB,7.25\n"),
				"scan-0042.bin":   make([]byte, 3<<20+12345),
				"core-sample.bin": make([]byte, consoleBigFile),
			}
			_, _ = rand.Read(files["scan-0042.bin"])   // never fails (crypto/rand)
			_, _ = rand.Read(files["core-sample.bin"]) // never fails (crypto/rand)
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
			if dialect == "sqlite" && os.Getenv(screenshotsEnv) == "1" {
				shots = screenshotDir
			}
			var res scriptResult
			runScript(t, p, "admin.mjs", &res, map[string]string{
				"INGEST_URL":          p.URL,
				"INGEST_ADMIN_TOKEN":  p.Token,
				"INGEST_UPLOADS":      strings.Join(paths, string(os.PathListSeparator)),
				"INGEST_FAILED_EVENT": failed.ID.String(),
				"INGEST_SCREENSHOTS":  shots,
				"INGEST_CHROMIUM":     chromiumPath,
			})

			stored := checkBatch(t, p, res.BatchID, files)
			if res.PausedAt == nil || *res.PausedAt < 0 || *res.PausedAt >= consoleBigFile {
				t.Errorf("the paused upload was at %v on the portal, want part of its %d bytes", res.PausedAt, consoleBigFile)
			}
			if res.RetriedEvent != failed.ID {
				t.Errorf("the script retried event %s, want %s", res.RetriedEvent, failed.ID)
			}
			// The retried event and the events of the files the browser uploaded reach the sink.
			for _, fileID := range append(stored, failed.FileID) {
				e := waitForEvent(t, p, store, fileID, ingest.OutboxDelivered)
				if !sink.wasAccepted(e.EventID.String()) {
					t.Errorf("event %s is DELIVERED, but the sink never accepted it", e.EventID)
				}
			}
			checkScreenshots(t, shots, res.Screenshots)
		})
	}
}

// TestConsoleLayoutInChromium measures the console's pages in Chromium (e2e/layout.mjs): the
// dashboard's cards and charts aligned on a wide window, and on a 420 px wide one no page wider
// than the window and the whole navigation on the screen and usable. Layout reads nothing of the
// database's own, so SQLite alone serves.
func TestConsoleLayoutInChromium(t *testing.T) {
	t.Parallel()
	ensureTools(t)
	p := startPortal(t, buildIngest(t), testdb.MigratedURL(t, "sqlite"))
	// A long name and a row of every column, for the lists measured at 420 px.
	p.call("POST", "/api/v1/files?filename="+strings.Repeat("quarterly-measurements-", 4)+"final.csv", strings.NewReader("a,b\n"), 201, nil)
	var res struct {
		Measured []string `json:"measured"`
	}
	runScript(t, p, "layout.mjs", &res, map[string]string{
		"INGEST_URL": p.URL, "INGEST_ADMIN_TOKEN": p.Token, "INGEST_CHROMIUM": chromiumPath,
	})
	if len(res.Measured) != 4 {
		t.Errorf("layout.mjs measured %v, want four pages", res.Measured)
	}
}

// failOneEvent stores a file through the API whose file.stored event the sink refuses, waits
// until the relay inside serve has marked the event FAILED, and returns it: the event the operator
// retries in the browser.
func failOneEvent(t *testing.T, p *portal, store *sqlstore.Store) *ingest.OutboxEvent {
	t.Helper()
	var f struct {
		ID uuid.UUID `json:"id"`
	}
	p.call("POST", "/api/v1/files?filename="+refusedFile, strings.NewReader(`{"reading": 1}`), 201, &f)
	return waitForEvent(t, p, store, f.ID, ingest.OutboxFailed)
}

// eventWait bounds the wait for the relay to deliver or fail an event (it polls every second).
const eventWait = 30 * time.Second

// waitForEvent waits until the file.stored event of the file has the status, and returns it.
func waitForEvent(t *testing.T, p *portal, store *sqlstore.Store, fileID uuid.UUID, want ingest.OutboxStatus) *ingest.OutboxEvent {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		l, err := store.FindEvents(context.Background(), readmodel.ListQuery{FileID: &fileID})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 1 && l.Items[0].Status == want {
			return l.Items[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event of file %s is not %s within %v: %+v\n--- server ---\n%s", fileID, want, eventWait, l.Items, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// runScript runs a browser script of e2e/ in Node with env and decodes the JSON it reports, its
// last line, into res.
func runScript(t *testing.T, p *portal, script string, res any, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- server ---\n%s", script, err, stdout.String(), stderr.String(), p.Log())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), res); err != nil {
		t.Fatalf("%s reported %q: %v", script, stdout.String(), err)
	}
}

// checkBatch checks through the API that the browser stored the files, whole, in one batch that
// it sealed, and returns their ids.
func checkBatch(t *testing.T, p *portal, batchID uuid.UUID, want map[string][]byte) []uuid.UUID {
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
			ID               uuid.UUID `json:"id"`
			Status           string    `json:"status"`
			OriginalFilename string    `json:"original_filename"`
			SHA256           string    `json:"sha256"`
			SizeBytes        int       `json:"size_bytes"`
		} `json:"items"`
	}
	p.call("GET", "/api/v1/files?batch_id="+batchID.String(), nil, 200, &list)
	var names []string
	var ids []uuid.UUID
	for _, f := range list.Items {
		names = append(names, f.OriginalFilename)
		ids = append(ids, f.ID)
		data, ok := want[f.OriginalFilename]
		sum := sha256.Sum256(data)
		if !ok || f.Status != "STORED" || f.SHA256 != hex.EncodeToString(sum[:]) || f.SizeBytes != len(data) {
			t.Errorf("file %s: %s, sha256 %s, %d bytes; want STORED with the bytes sent", f.OriginalFilename, f.Status, f.SHA256, f.SizeBytes)
		}
	}
	if len(names) != len(want) {
		t.Errorf("batch %s holds %v, want the %d files uploaded", batchID, names, len(want))
	}
	return ids
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
