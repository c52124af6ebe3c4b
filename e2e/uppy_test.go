package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// uppyChunkSize is the Tus plugin's chunkSize: small, so that every upload takes several PATCH
// requests and the page can pause or remove a file between them.
const uppyChunkSize = 256 << 10

// uppySizes are the files of the scenarios of uppy/uppy.mjs; none is a multiple of the chunk
// size, so every upload ends with a short PATCH.
var uppySizes = map[string]int{
	"whole":      1<<20 + 123,
	"requestId":  300<<10 + 1,
	"paused":     3<<20 + 1,
	"pausedAllA": 4<<20 + 5,
	"pausedAllB": 4<<20 + 7,
	"reloaded":   3<<20 + 11,
	"removed":    3 << 20,
	"blocked":    10<<10 + 3,
}

// uppyUpload is what uppy.mjs reports of a file the browser uploaded.
type uppyUpload struct {
	Name      string `json:"name"`
	FileID    string `json:"fileId"`
	Digest    string `json:"digest"`
	UploadURL string `json:"uploadURL"`
	// PausedAt is the portal's offset while the upload was paused, or, for the page left
	// mid-upload, where the new page's first PATCH started.
	PausedAt *int64 `json:"pausedAt"`
}

// uppyReport is uppy.mjs's last line.
type uppyReport struct {
	Whole      uppyUpload `json:"whole"`
	RequestID  uppyUpload `json:"requestId"`
	Paused     uppyUpload `json:"paused"`
	PausedAllA uppyUpload `json:"pausedAllA"`
	PausedAllB uppyUpload `json:"pausedAllB"`
	Reloaded   uppyUpload `json:"reloaded"`
	Removed    struct {
		Name      string `json:"name"`
		UploadURL string `json:"uploadURL"`
	} `json:"removed"`
	Blocked struct {
		Name    string `json:"name"`
		Error   string `json:"error"`
		Console string `json:"console"`
	} `json:"blocked"`
}

// TestUppyInChromium uploads with Uppy's @uppy/tus, unmodified, from a page in headless Chromium
// on another origin than the portal's, so the browser really applies CORS: a whole file, pauses
// mid-upload (the portal's offset stays put, then the upload completes), a file removed
// mid-upload (its upload is gone), and the page on an origin the portal does not allow (the
// browser blocks it). Every file stored has the SHA-256 of the bytes picked in the page.
func TestUppyInChromium(t *testing.T) {
	t.Parallel()
	ensureChromium(t)
	ensureNodeModules(t, "uppy", "@uppy/tus")
	bin := buildIngest(t)
	site := httptest.NewServer(http.FileServer(http.Dir(bundleUppyPage(t))))
	t.Cleanup(site.Close)
	_, port, err := net.SplitHostPort(site.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// One server, two origins: the portal allows the page as localhost, not as 127.0.0.1. Both
	// differ from the portal's own origin (another port).
	allowed := "http://localhost:" + port
	blocked := "http://127.0.0.1:" + port

	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := testdb.MigratedURL(t, dialect)
			p := startPortal(t, bin, dbURL, "--chunk-size", "1MiB", "--cors-allowed-origins", allowed)
			token := createUserToken(t, bin, dbURL, "uppy-"+dialect)

			data, paths := randomFiles(t, uppySizes, dialect, 11)
			res := runUppyScript(t, p, map[string]any{
				"portal":      p.URL,
				"token":       token,
				"page":        allowed,
				"blockedPage": blocked,
				"chunkSize":   uppyChunkSize,
				"chromium":    chromiumPath,
				"files":       paths,
			})

			for _, u := range []uppyUpload{res.Whole, res.RequestID, res.Paused, res.PausedAllA, res.PausedAllB, res.Reloaded} {
				checkUppyFile(t, p, token, u, data[u.Name])
			}
			for _, u := range []uppyUpload{res.Paused, res.PausedAllA, res.PausedAllB, res.Reloaded} {
				if u.PausedAt == nil || *u.PausedAt <= 0 || *u.PausedAt >= int64(len(data[u.Name])) {
					t.Errorf("%s: paused at offset %v of %d, want mid-upload", u.Name, u.PausedAt, len(data[u.Name]))
				}
			}
			// The removed file's upload is gone, and so is every trace of it and of the blocked
			// one in the user's files: only the six uploads that completed are there.
			if status := tusHead(t, res.Removed.UploadURL, token); status != http.StatusNotFound {
				t.Errorf("HEAD %s after Uppy removed the file: %d, want 404", res.Removed.UploadURL, status)
			}
			var list struct {
				Items []struct {
					OriginalFilename string `json:"original_filename"`
					Status           string `json:"status"`
				} `json:"items"`
			}
			callAs(t, p, token, "/api/v1/files?status=STORED", &list)
			var names []string
			for _, f := range list.Items {
				names = append(names, f.OriginalFilename)
			}
			if len(names) != 6 || strings.Contains(strings.Join(names, " "), res.Blocked.Name) || strings.Contains(strings.Join(names, " "), res.Removed.Name) {
				t.Errorf("the user's stored files: %v, want the six uploads that completed", names)
			}
			if res.Blocked.Name == "" || res.Blocked.Error == "" {
				t.Errorf("the upload from an origin the portal does not allow did not fail: %+v", res.Blocked)
			}
		})
	}
}

// bundleUppyPage bundles uppy/page.js with esbuild into a temporary directory beside a copy of
// uppy/index.html, and returns the directory: the site the browser loads.
func bundleUppyPage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), installWait)
	defer cancel()
	run(t, ctx, "uppy", filepath.Join("node_modules", ".bin", "esbuild"), "page.js", "--bundle", "--format=iife",
		"--target=chrome120", "--log-level=warning", "--outfile="+filepath.Join(dir, "page.js"))
	html, err := os.ReadFile(filepath.Join("uppy", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), html, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// createUserToken creates a user who is not an administrator, with the CLI beside the running
// portal, and returns a new API token of theirs.
func createUserToken(t *testing.T, bin, dbURL, username string) string {
	t.Helper()
	cli := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "INGEST_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "INGEST_DATABASE_URL="+dbURL)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ingest %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cli("user", "create", username)
	lines := strings.Split(strings.TrimSpace(cli("token", "create", "--user", username, "--name", "uppy e2e")), "\n")
	return lines[len(lines)-1]
}

// runUppyScript runs uppy/uppy.mjs in Node with plan and returns what it reports.
func runUppyScript(t *testing.T, p *portal, plan map[string]any) uppyReport {
	t.Helper()
	var res uppyReport
	runBrowserScript(t, p, "uppy", "uppy.mjs", "INGEST_UPPY_PLAN", plan, &res)
	return res
}

// runBrowserScript runs the Node script name in dir with plan, as JSON, in the environment
// variable env, and decodes the last line it prints, its report, into report.
func runBrowserScript(t *testing.T, p *portal, dir, name, env string, plan map[string]any, report any) {
	t.Helper()
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", name)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env+"="+string(raw))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- server ---\n%s", name, err, stdout.String(), stderr.String(), p.Log())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), report); err != nil {
		t.Fatalf("%s reported %q: %v", name, stdout.String(), err)
	}
	t.Logf("%s: %s", name, lines[len(lines)-1])
}

// randomFiles writes a file of random bytes for each scenario of sizes, named
// "<scenario>-<dialect>.bin", and returns their bytes by name and their paths by scenario.
func randomFiles(t *testing.T, sizes map[string]int, dialect string, seed uint64) (data map[string][]byte, paths map[string]string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(len(dialect)), seed))
	data, paths = map[string][]byte{}, map[string]string{}
	for scenario, size := range sizes {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("%s-%s.bin", scenario, dialect)
		data[name] = b
		paths[scenario] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[scenario], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return data, paths
}

// checkUppyFile checks that the file the browser read from the Ingest-File-Id header is the
// user's, STORED, with the SHA-256 of the bytes picked, which Repr-Digest also carried.
func checkUppyFile(t *testing.T, p *portal, token string, u uppyUpload, want []byte) {
	t.Helper()
	if want == nil {
		t.Errorf("the script reported a file %q that no scenario uploaded", u.Name)
		return
	}
	sum := sha256.Sum256(want)
	if digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"; u.Digest != digest {
		t.Errorf("%s: Repr-Digest %s, want %s", u.Name, u.Digest, digest)
	}
	var f struct {
		Status           string `json:"status"`
		OriginalFilename string `json:"original_filename"`
		SHA256           string `json:"sha256"`
		SizeBytes        int    `json:"size_bytes"`
	}
	callAs(t, p, token, "/api/v1/files/"+u.FileID, &f)
	if f.Status != "STORED" || f.OriginalFilename != u.Name || f.SHA256 != hex.EncodeToString(sum[:]) || f.SizeBytes != len(want) {
		t.Errorf("file %s: %+v, want STORED as %s, %d bytes, sha256 %x", u.FileID, f, u.Name, len(want), sum)
	}
}

// callAs sends a GET of the API with token and decodes its 200 answer into out.
func callAs(t *testing.T, p *portal, token, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("GET %s: decode %q: %v", path, raw, err)
	}
}

// tusHead answers the status of a tus HEAD of url with token.
func tusHead(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
