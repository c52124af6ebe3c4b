package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// exampleDir is the browser example that docs/browser.md tells web teams to copy.
const exampleDir = "../docs/examples/browser"

// exampleSizes are the files example.mjs uploads. The large one goes in parts of Uppy's minimum
// (5 MiB, so 5 parts, the last 1234 bytes); none is a multiple of anything the clients chunk by.
var exampleSizes = map[string]int{
	"large":      20<<20 + 1234,
	"small":      200<<10 + 17,
	"tus":        9<<20 + 5,
	"blockedS3":  30<<10 + 1,
	"blockedTus": 40<<10 + 3,
}

// exampleFile is a file the page listed under "Uploaded".
type exampleFile struct {
	Name   string  `json:"name"`
	FileID *string `json:"fileId"`
	Error  *string `json:"error"`
}

// exampleReport is example.mjs's last line.
type exampleReport struct {
	S3    []exampleFile `json:"s3"`
	Parts []struct {
		Part   int `json:"part"`
		Status int `json:"status"`
	} `json:"parts"`
	FormPosts  []int         `json:"formPosts"`
	Tus        []exampleFile `json:"tus"`
	TusPatches []int         `json:"tusPatches"`
	Blocked    []exampleFile `json:"blocked"`
}

// TestBrowserExample runs docs/examples/browser as a web team would: built with its own
// "npm run build" from its committed lockfile, its backend (backend.mjs) on an origin of its own
// minting upload grants with an API token, and its page in headless Chromium uploading through
// Uppy Dashboard with the real @uppy/aws-s3 (a 20 MiB file in several parts through
// /uppy/g/<grant>, a small one in the streamed form POST) and @uppy/tus (the grant as
// Authorization). Every file is STORED with the SHA-256 of the bytes the browser sent and records
// its grant; the same page served from an origin the portal does not allow uploads nothing.
func TestBrowserExample(t *testing.T) {
	t.Parallel()
	ensureChromium(t)
	ensureNodeModules(t, ".", "playwright-core")
	ensureNodeModules(t, exampleDir, "@uppy/aws-s3")
	bin := buildIngest(t)
	buildExample(t)

	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := testdb.MigratedURL(t, dialect)
			// The backend listens on 127.0.0.1; the portal allows its page as localhost only, so
			// the same page at 127.0.0.1 is on an origin the portal does not allow.
			var p *portal
			var token, allowed, blocked string
			for attempt := 1; ; attempt++ {
				// The port is chosen free before the portal starts, for the portal must allow the
				// page's origin; another process may take it before the backend listens.
				_, port, err := net.SplitHostPort(freeAddr(t))
				if err != nil {
					t.Fatal(err)
				}
				allowed, blocked = "http://localhost:"+port, "http://127.0.0.1:"+port
				if p == nil {
					p = startPortal(t, bin, dbURL, "--cors-allowed-origins", allowed)
					token = createUserToken(t, bin, dbURL, "example-"+dialect)
				} else {
					p.args = []string{"--cors-allowed-origins", allowed}
					p.restart()
				}
				err = startExampleBackend(t, p, token, port)
				if err == nil {
					break
				}
				p.kill()
				if !errors.Is(err, errPortTaken) || attempt == 3 {
					t.Fatal(err)
				}
				t.Logf("%v; trying another port", err)
			}

			data, paths := randomFiles(t, exampleSizes, dialect, 17)
			res := runExampleScript(t, p, map[string]any{
				"page":        allowed,
				"blockedPage": blocked,
				"chromium":    chromiumPath,
				"files":       paths,
			})

			// aws-s3: the large file went in parts, every one taken, and the small one in one
			// form POST.
			var parts []int
			for _, pt := range res.Parts {
				if pt.Status != 200 {
					t.Errorf("PUT of part %d answered %d", pt.Part, pt.Status)
				}
				parts = append(parts, pt.Part)
			}
			sort.Ints(parts)
			if want := []int{1, 2, 3, 4, 5}; fmt.Sprint(parts) != fmt.Sprint(want) {
				t.Errorf("parts sent by @uppy/aws-s3: %v, want %v", parts, want)
			}
			if fmt.Sprint(res.FormPosts) != "[201]" {
				t.Errorf("form POSTs by @uppy/aws-s3: %v, want one answered 201", res.FormPosts)
			}
			if len(res.TusPatches) < 2 {
				t.Errorf("PATCHes by @uppy/tus: %v, want at least 2 (8 MiB chunks)", res.TusPatches)
			}
			grants := map[string]string{}
			for _, f := range append(append([]exampleFile{}, res.S3...), res.Tus...) {
				grants[f.Name] = checkExampleFile(t, p, token, f, data[f.Name])
			}
			if len(grants) != 3 {
				t.Fatalf("stored through the page: %v, want the large, small and tus files", grants)
			}
			large, small, tus := grants["large-"+dialect+".bin"], grants["small-"+dialect+".bin"], grants["tus-"+dialect+".bin"]
			if large != small || large == tus {
				t.Errorf("grants: large %s, small %s (one page), tus %s (another page)", large, small, tus)
			}

			// The page on the origin not allowed listed both of its files as failed, and the
			// portal stored nothing but the three files above.
			if len(res.Blocked) != 2 {
				t.Errorf("the page on %s listed %+v, want its two files failed", blocked, res.Blocked)
			}
			for _, f := range res.Blocked {
				if f.FileID != nil || f.Error == nil {
					t.Errorf("the page on %s: %s was not refused: %+v", blocked, f.Name, f)
				}
			}
			var list struct {
				Items []struct {
					OriginalFilename string `json:"original_filename"`
				} `json:"items"`
			}
			callAs(t, p, token, "/api/v1/files", &list)
			if len(list.Items) != 3 {
				t.Errorf("the user's files: %+v, want the three uploads from the allowed origin", list.Items)
			}
		})
	}
}

// buildExample runs the example's own "npm run build", which bundles its page into its dist/.
func buildExample(t *testing.T) {
	t.Helper()
	installing.Lock() // a test binary builds it once; the lock keeps it from an npm ci beside it
	defer installing.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), installWait)
	defer cancel()
	run(t, ctx, exampleDir, "npm", "run", "build")
}

// errPortTaken is startExampleBackend's error when its port was taken meanwhile.
var errPortTaken = errors.New("the port was taken")

// startExampleBackend starts the example's backend.mjs on 127.0.0.1:port, minting grants from p
// with token, and waits until it listens.
func startExampleBackend(t *testing.T, p *portal, token, port string) error {
	t.Helper()
	cmd := exec.Command("node", "backend.mjs")
	cmd.Dir = exampleDir
	cmd.Env = append(os.Environ(), "INGEST_URL="+p.URL, "INGEST_TOKEN="+token, "HOST=127.0.0.1", "PORT="+port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("backend.mjs stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening on http://127.0.0.1:"+port) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // its stderr is whole
		err := fmt.Errorf("backend.mjs printed %q, want it listening on port %s; stderr:\n%s", sc.Text(), port, stderr.String())
		if strings.Contains(stderr.String(), "EADDRINUSE") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return err
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return nil
}

// runExampleScript runs example.mjs in Node with plan and returns what it reports.
func runExampleScript(t *testing.T, p *portal, plan map[string]any) exampleReport {
	t.Helper()
	var res exampleReport
	runBrowserScript(t, p, ".", "example.mjs", "INGEST_EXAMPLE_PLAN", plan, &res)
	return res
}

// checkExampleFile checks, through the API with the grant creator's token, that the file the page
// listed is STORED under its name with the SHA-256 and size of the bytes picked, and records a
// grant; it returns the grant's id.
func checkExampleFile(t *testing.T, p *portal, token string, f exampleFile, want []byte) string {
	t.Helper()
	if want == nil || f.FileID == nil {
		t.Errorf("the page listed %+v, not a file it was given to upload", f)
		return ""
	}
	var got struct {
		Status           string  `json:"status"`
		OriginalFilename string  `json:"original_filename"`
		SHA256           string  `json:"sha256"`
		SizeBytes        int     `json:"size_bytes"`
		GrantID          *string `json:"grant_id"`
	}
	callAs(t, p, token, "/api/v1/files/"+url.PathEscape(*f.FileID), &got)
	sum := sha256.Sum256(want)
	if got.Status != "STORED" || got.OriginalFilename != f.Name || got.SHA256 != hex.EncodeToString(sum[:]) || got.SizeBytes != len(want) || got.GrantID == nil {
		t.Errorf("file %s: %+v, want STORED as %s, %d bytes, sha256 %x, with a grant_id", *f.FileID, got, f.Name, len(want), sum)
		return ""
	}
	return *got.GrantID
}
