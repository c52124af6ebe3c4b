package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
)

// apiGuide is the user's guide to the HTTP API; its sh blocks are a script this file runs.
const apiGuide = "../docs/api.md"

// guideTools are the programs the guide's examples use.
var guideTools = []string{"bash", "curl", "python3", "openssl", "sha256sum", "dd", "head", "seq", "xargs", "cmp",
	"wc", "tr", "cut", "grep", "ls", "cat"}

// guideBlock is one ```sh block of the guide.
type guideBlock struct {
	line int // of the opening fence
	code string
}

func guideBlocks(t *testing.T) []guideBlock {
	t.Helper()
	f, err := os.Open(apiGuide)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []guideBlock
	var open *guideBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case open == nil && strings.TrimSpace(line) == "```sh":
			open = &guideBlock{line: n}
		case open != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *open)
			open = nil
		case open != nil:
			open.code += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if open != nil {
		t.Fatalf("%s: the sh block at line %d is never closed", apiGuide, open.line)
	}
	if len(blocks) == 0 {
		t.Fatalf("%s has no sh blocks", apiGuide)
	}
	return blocks
}

// requireGuideTools fails, never skips, when a program the guide uses is missing: a green run
// must mean the guide ran.
func requireGuideTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range guideTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("running the examples of %s needs %s on the PATH; install them (bash, curl, python3, openssl, coreutils, findutils)",
			apiGuide, strings.Join(missing, ", "))
	}
}

// TestAPIGuideRuns runs every sh block of the guide, in order, in one bash process, against a
// fresh portal, as a new user would paste them; then checks through the store that the files the
// guide uploaded are stored with the SHA-256 that sha256sum computed in the script.
func TestAPIGuideRuns(t *testing.T) {
	t.Parallel()
	requireGuideTools(t)
	blocks := guideBlocks(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			dir := t.TempDir()
			out := runGuide(t, p, blocks, dir)
			checkGuideUploads(t, p, dir, out)
			checkGuideOutcomes(t, p)
		})
	}
}

// guideMarker is printed before each block, so that a failure can be traced to its block.
func guideMarker(i int) string { return fmt.Sprintf("@@ api.md block %d @@", i) }

const guideDone = "@@ api.md done @@"

// runGuide runs the blocks as one script in dir with the portal's URL and admin token, and
// returns everything it printed.
func runGuide(t *testing.T, p *portal, blocks []guideBlock, dir string) string {
	t.Helper()
	var script strings.Builder
	for i, b := range blocks {
		fmt.Fprintf(&script, "printf '%%s\\n' '%s'\n%s", guideMarker(i), b.code)
	}
	fmt.Fprintf(&script, "printf '%%s\\n' '%s'\n", guideDone)
	// The script lives outside dir, which is the guide's working directory.
	scriptFile := filepath.Join(t.TempDir(), "api-guide.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", scriptFile)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "INGEST_URL="+p.URL, "INGEST_TOKEN="+p.Admin,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost") // a proxy must not see the portal's requests
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil || !strings.Contains(text, guideDone) {
		failed, output := failedBlock(text)
		if failed < 0 {
			t.Fatalf("%s: the script failed before its first block (%v):\n%s", apiGuide, err, text)
		}
		t.Fatalf("%s: the sh block at line %d failed (%v):\n%s\n--- its output ---\n%s",
			apiGuide, blocks[failed].line, err, blocks[failed].code, output)
	}
	t.Logf("%s ran: %d blocks", apiGuide, len(blocks))
	return text
}

// failedBlock returns the index of the last block that started in out, and what it printed.
func failedBlock(out string) (int, string) {
	for i := strings.Count(out, "@@ api.md block "); i >= 0; i-- {
		if _, after, found := strings.Cut(out, guideMarker(i)+"\n"); found {
			return i, after
		}
	}
	return -1, ""
}

// sha256sumLine is a line of sha256sum's output.
var sha256sumLine = regexp.MustCompile(`(?m)^([0-9a-f]{64})  (\S+)$`)

// checkGuideUploads checks that every file the guide ran sha256sum on is STORED under its name,
// with that SHA-256 both in the database and in the bytes of its stored object.
func checkGuideUploads(t *testing.T, p *portal, dir, out string) {
	t.Helper()
	ctx := context.Background()
	sums := sha256sumLine.FindAllStringSubmatch(out, -1)
	if len(sums) < 2 {
		t.Fatalf("the guide printed %d sha256sum lines; want one for the upload in parts and one for the single-request upload", len(sums))
	}
	files, err := p.Store.FindFiles(ctx, readmodel.ListQuery{ExcludePartial: true, Limit: ingest.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sums {
		sum, name := m[1], m[2]
		if got := fileSHA256(t, filepath.Join(dir, name)); got != sum {
			t.Errorf("%s in the guide's directory hashes to %s, but the guide printed %s", name, got, sum)
		}
		var stored *ingest.File
		for _, f := range files.Items {
			if f.OriginalFilename == name && f.Status == ingest.FileStored {
				stored = f
			}
		}
		if stored == nil {
			t.Errorf("the guide ran sha256sum on %s, but no STORED file has that name", name)
			continue
		}
		if stored.SHA256 != sum {
			t.Errorf("%s is stored with sha256 %s, sha256sum computed %s", name, stored.SHA256, sum)
		}
		r, err := p.Blobs.ReadObject(ctx, stored.StorageKey, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			t.Errorf("the stored object of %s hashes to %s, sha256sum computed %s", name, got, sum)
		}
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkGuideOutcomes checks what the guide's sealing, cancelling and aborting left behind.
func checkGuideOutcomes(t *testing.T, p *portal) {
	t.Helper()
	ctx := context.Background()
	batches, err := p.Store.FindBatches(ctx, readmodel.ListQuery{Limit: ingest.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[ingest.BatchStatus]int{}
	for _, b := range batches.Items {
		byStatus[b.Status]++
		if b.Status == ingest.BatchComplete && (b.TotalFiles < 2 || b.StoredCount != b.TotalFiles) {
			t.Errorf("the guide's COMPLETE batch counts %d stored of %d files", b.StoredCount, b.TotalFiles)
		}
	}
	if byStatus[ingest.BatchComplete] == 0 || byStatus[ingest.BatchCancelled] == 0 {
		t.Errorf("after the guide, the batches by status are %v; want a COMPLETE one (sealed) and a CANCELLED one", byStatus)
	}
	files, err := p.Store.FindFiles(ctx, readmodel.ListQuery{Status: string(ingest.FileFailed), ExcludePartial: true, Limit: ingest.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	// The cancelled batch fails its file too; the aborted upload is the one outside any batch.
	aborted := slices.ContainsFunc(files.Items, func(f *ingest.File) bool { return f.BatchID == nil })
	if !aborted {
		t.Errorf("after the guide no file outside a batch is FAILED; its aborted upload should be")
	}
}

// codeRow is a row of the guide's table of error codes: | `CODE` | 409 | when |.
var codeRow = regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (\\d{3}) \\|")

func TestAPIGuideListsEveryErrorCode(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(apiGuide)
	if err != nil {
		t.Fatal(err)
	}
	want := errorCodes()
	got := map[string]int{}
	for _, m := range codeRow.FindAllStringSubmatch(string(raw), -1) {
		status, _ := strconv.Atoi(m[2])
		if _, dup := got[m[1]]; dup {
			t.Errorf("%s lists %s twice", apiGuide, m[1])
		}
		got[m[1]] = status
	}
	for _, code := range sortedKeys(want) {
		status, ok := got[code]
		switch {
		case !ok:
			t.Errorf("%s does not list the code %s (%d)", apiGuide, code, want[code])
		case status != want[code]:
			t.Errorf("%s says %s answers %d; it answers %d", apiGuide, code, status, want[code])
		}
	}
	for _, code := range sortedKeys(got) {
		if _, ok := want[code]; !ok {
			t.Errorf("%s lists %s, which the API never answers", apiGuide, code)
		}
	}
}

// curlCommand finds a curl invocation in a block whose continuation lines are joined.
var curlCommand = regexp.MustCompile(`\bcurl\s+-[^\n]*`)

func TestAPIGuideExamplesArePasteable(t *testing.T) {
	t.Parallel()
	for _, b := range guideBlocks(t) {
		code := strings.ReplaceAll(b.code, "\\\n", " ")
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`https?://`),           // the portal is $INGEST_URL
			regexp.MustCompile(`ingest_[a-z2-7]{8,}`), // a token is $INGEST_TOKEN
			regexp.MustCompile(`\bjq\b`),              // not installed everywhere
		} {
			if m := bad.FindString(code); m != "" {
				t.Errorf("%s: the sh block at line %d has %q", apiGuide, b.line, m)
			}
		}
		for _, cmd := range curlCommand.FindAllString(code, -1) {
			for _, want := range []string{"--fail-with-body", "-sS", "$INGEST_URL"} {
				if !strings.Contains(cmd, want) {
					t.Errorf("%s: a curl in the sh block at line %d lacks %s: %s", apiGuide, b.line, want, cmd)
				}
			}
		}
	}
}
