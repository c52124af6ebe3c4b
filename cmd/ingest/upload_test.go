package main

// Tests of "ingest upload", "ingest files" and "ingest batches" as a user runs them: the real
// binary against a real "ingest serve" process, on SQLite and PostgreSQL.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// uploadLine is a line of "ingest upload --json".
type uploadLine struct {
	Path         string `json:"path"`
	Status       string `json:"status"`
	FileID       string `json:"file_id"`
	SHA256       string `json:"sha256"`
	SizeBytes    int64  `json:"size_bytes"`
	ResumedParts int    `json:"resumed_parts"`
	SentParts    int    `json:"sent_parts"`
	Error        *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// cliEnv is the environment that points the command line at the rig's server.
func cliEnv(r *serveRig) []string {
	return []string{"INGEST_URL=" + r.srv.url, "INGEST_TOKEN=" + r.token}
}

// uploadLines parses the --json output of an upload, by path.
func uploadLines(t *testing.T, stdout string) map[string]uploadLine {
	t.Helper()
	lines := map[string]uploadLine{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var l uploadLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("upload --json printed %q: %v", sc.Text(), err)
		}
		lines[l.Path] = l
	}
	return lines
}

// writeFile writes data at path, creating its directory, and returns its sha256.
func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// forEachServer runs test against a started "ingest serve" of the built binary on each database,
// the server run with args.
func forEachServer(t *testing.T, test func(t *testing.T, bin string, r *serveRig), args ...string) {
	t.Helper()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url, args...)
		r.start()
		test(t, bin, r)
	})
}

func TestUploadATreeIntoABatch(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		dir := t.TempDir()
		want := map[string]string{ // path → sha256
			filepath.Join(dir, "empty"):              writeFile(t, filepath.Join(dir, "empty"), nil),
			filepath.Join(dir, "one"):                writeFile(t, filepath.Join(dir, "one"), []byte("1")),
			filepath.Join(dir, "sub", "parts.bin"):   writeFile(t, filepath.Join(dir, "sub", "parts.bin"), randomBytes(5*1024+3)),
			filepath.Join(dir, "sub", "deeper", "x"): writeFile(t, filepath.Join(dir, "sub", "deeper", "x"), randomBytes(1024)),
		}
		if err := os.Symlink(filepath.Join(dir, "one"), filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}

		res := runBinary(t, bin, cliEnv(r), "upload", "--chunk-size", "1KiB", "--parallel", "3", "--json", dir)
		if res.code != 0 {
			r.fatalf("upload: %v", res)
		}
		lines := uploadLines(t, res.stdout)
		if len(lines) != len(want) {
			r.fatalf("upload printed %d files, want %d (the symlink skipped): %v", len(lines), len(want), res)
		}
		if !strings.Contains(res.stderr, "skipped "+filepath.Join(dir, "link")) {
			t.Errorf("stderr does not say the symlink was skipped:\n%s", res.stderr)
		}
		var batchID string
		for path, sum := range want {
			l := lines[path]
			var f struct {
				Status  string `json:"status"`
				SHA256  string `json:"sha256"`
				BatchID string `json:"batch_id"`
			}
			r.call("GET", "/api/v1/files/"+l.FileID, nil, http.StatusOK, &f)
			if l.Status != "STORED" || f.Status != "STORED" || f.SHA256 != sum || l.SHA256 != sum {
				t.Errorf("%s: printed %+v, server has %+v; want STORED with sha256 %s", path, l, f, sum)
			}
			if batchID != "" && f.BatchID != batchID {
				t.Errorf("%s is in batch %s, another file in %s", path, f.BatchID, batchID)
			}
			batchID = f.BatchID
		}
		if l := lines[filepath.Join(dir, "sub", "parts.bin")]; l.SentParts != 6 {
			t.Errorf("parts.bin went in %d parts, want 6 of 1 KiB", l.SentParts)
		}
		var batch crashBatch
		r.call("GET", "/api/v1/batches/"+batchID, nil, http.StatusOK, &batch)
		if batch.Status != "COMPLETE" || batch.TotalFiles != 4 || batch.StoredCount != 4 {
			t.Errorf("batch %+v, want COMPLETE with 4 files stored", batch)
		}
		if !strings.Contains(res.stderr, "4 of 4 files stored") || !strings.Contains(res.stderr, "COMPLETE") {
			t.Errorf("the summary on stderr:\n%s", res.stderr)
		}

		// The other commands see the same files and batch.
		ls := runBinary(t, bin, cliEnv(r), "files", "ls", "--batch-id", batchID, "--status", "STORED", "--json")
		if ls.code != 0 || strings.Count(ls.stdout, "\n") != 4 {
			t.Errorf("files ls: %v", ls)
		}
		show := runBinary(t, bin, cliEnv(r), "batches", "show", batchID)
		if show.code != 0 || !strings.Contains(show.stdout, "COMPLETE") || !strings.Contains(show.stdout, "4 (4 stored, 0 failed)") {
			t.Errorf("batches show: %v", show)
		}
		if bl := runBinary(t, bin, cliEnv(r), "batches", "ls"); bl.code != 0 || !strings.Contains(bl.stdout, batchID) {
			t.Errorf("batches ls: %v", bl)
		}
		parts := lines[filepath.Join(dir, "sub", "parts.bin")]
		out := filepath.Join(t.TempDir(), "copy.bin")
		if get := runBinary(t, bin, cliEnv(r), "files", "get", parts.FileID, "-o", out); get.code != 0 {
			t.Errorf("files get: %v", get)
		}
		if got, err := os.ReadFile(out); err != nil || hexSum(got) != parts.SHA256 {
			t.Errorf("files get wrote %d bytes hashing to %s (%v), want %s", len(got), hexSum(got), err, parts.SHA256)
		}

		// A download whose bytes do not hash to the file's sha256 leaves nothing behind.
		one := lines[filepath.Join(dir, "one")]
		if err := os.WriteFile(filepath.Join(r.storage, filepath.FromSlash(crashObjectKey(uuid.MustParse(one.FileID)))), []byte("2"), 0o644); err != nil {
			t.Fatal(err)
		}
		outDir := t.TempDir()
		bad := runBinary(t, bin, cliEnv(r), "files", "get", one.FileID, "-o", filepath.Join(outDir, "one"))
		if bad.code == 0 || !strings.Contains(bad.stderr, "nothing was written") {
			t.Errorf("files get of a corrupted object: %v", bad)
		}
		if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
			t.Errorf("files get of a corrupted object left %d files behind", len(entries))
		}
	})
}

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cliProcess is a run of the command line in the background.
type cliProcess struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

// startCLI starts "ingest args…" with env and does not wait for it.
func startCLI(t *testing.T, bin string, env []string, args ...string) *cliProcess {
	t.Helper()
	p := &cliProcess{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	return p
}

// receivedBytes reads ingest_received_bytes_total from the server's metrics.
func receivedBytes(r *serveRig) int64 {
	r.t.Helper()
	raw := r.call("GET", "/metrics", nil, http.StatusOK, nil)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "ingest_received_bytes_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				r.fatalf("metric line %q: %v", line, err)
			}
			return int64(f)
		}
	}
	return 0
}

// awaitReceived waits until the server has received at least n bytes of parts.
func awaitReceived(r *serveRig, n int64, p *cliProcess) {
	r.t.Helper()
	deadline := time.Now().Add(serveWait)
	for receivedBytes(r) < n {
		select {
		case <-p.done:
			r.fatalf("the upload ended before the server received %d bytes: %s\n%s", n, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			r.fatalf("the server received no %d bytes within %v", n, serveWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killCLI sends SIGKILL to the command line and checks that it died of it, mid-upload.
func killCLI(t *testing.T, p *cliProcess) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the upload ended with %v before our SIGKILL:\n%s\n%s", p.cmd.ProcessState, p.stdout.String(), p.stderr.String())
	}
}

// bigUpload is the file of the interruption tests: big enough, in small parts sent one at a time,
// that the upload is still running when the test interrupts it.
const (
	bigUploadSize  = 32 << 20
	bigUploadChunk = "128KiB"
)

func TestUploadResumesAfterTheCommandIsKilled(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		path := filepath.Join(t.TempDir(), "big.bin")
		sum := writeFile(t, path, randomBytes(bigUploadSize))
		args := []string{"upload", "--chunk-size", bigUploadChunk, "--parallel", "1", "--json", path}

		p := startCLI(t, bin, cliEnv(r), args...)
		awaitReceived(r, 1<<20, p)
		killCLI(t, p)
		if n := r.queryInt(`SELECT COUNT(*) FROM ingest_files WHERE status = 'STORED'`); n != 0 {
			t.Fatalf("the file was stored before the kill; the test did not interrupt anything")
		}

		res := runBinary(t, bin, cliEnv(r), args...)
		if res.code != 0 {
			r.fatalf("the second run: %v", res)
		}
		l := uploadLines(t, res.stdout)[path]
		if l.Status != "STORED" || l.SHA256 != sum || l.ResumedParts == 0 {
			t.Errorf("the second run printed %+v; want STORED with sha256 %s and parts resumed", l, sum)
		}
		if got := receivedBytes(r); got >= 2*bigUploadSize {
			t.Errorf("the server received %d bytes in all for a file of %d: the second run sent parts again", got, bigUploadSize)
		}
		// The rate is of the bytes sent: the resumed ones are no speed.
		if m := regexp.MustCompile(`, (\S+ \S+) sent at \S+ \S+/s;`).FindStringSubmatch(res.stderr); m == nil {
			t.Errorf("the summary does not say how much was sent at what rate:\n%s", res.stderr)
		} else if m[1] == humanBytes(bigUploadSize) {
			t.Errorf("the summary says %s sent, the whole file, though parts were resumed:\n%s", m[1], res.stderr)
		}
	})
}

// TestAnInterruptedUploadExits130: ^C (SIGINT) mid-upload exits 130, as shells report a command
// killed by it, so that a script tells an interrupt from a failure.
func TestAnInterruptedUploadExits130(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		path := filepath.Join(t.TempDir(), "big.bin")
		writeFile(t, path, randomBytes(bigUploadSize))
		p := startCLI(t, bin, cliEnv(r), "upload", "--chunk-size", bigUploadChunk, "--parallel", "1", path)
		awaitReceived(r, 1<<20, p)
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if code := p.cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("an upload interrupted by SIGINT exited %d, want 130:\n%s\n%s", code, p.stdout.String(), p.stderr.String())
		}
	})
}

func TestUploadRidesOutAServerRestart(t *testing.T) {
	t.Parallel()
	// The server comes back on the same address, as a restarted service does.
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		path := filepath.Join(t.TempDir(), "big.bin")
		sum := writeFile(t, path, randomBytes(bigUploadSize))
		p := startCLI(t, bin, cliEnv(r), "upload", "--chunk-size", bigUploadChunk, "--parallel", "2", "--json", path)
		awaitReceived(r, 1<<20, p)
		r.restartOnTheSameAddress()
		select {
		case <-p.done:
		case <-time.After(2 * time.Minute):
			r.fatalf("the upload did not end within 2 minutes of the restart:\n%s", p.stderr.String())
		}
		if !p.cmd.ProcessState.Success() {
			r.fatalf("the upload failed across the restart: %v\n%s\n%s", p.cmd.ProcessState, p.stdout.String(), p.stderr.String())
		}
		if l := uploadLines(t, p.stdout.String())[path]; l.Status != "STORED" || l.SHA256 != sum {
			t.Errorf("printed %+v, want STORED with sha256 %s", l, sum)
		}
		// The restarted server's counters start at zero: it received the rest of the file.
		if got := receivedBytes(r); got == 0 {
			t.Errorf("the restarted server received no part: the upload did not continue across the restart")
		}
	})
}

func TestUploadReportsAFileThatChangedAndFails(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		dir := t.TempDir()
		good := filepath.Join(dir, "good.txt")
		writeFile(t, good, []byte("fine"))
		changing := filepath.Join(dir, "changing.bin")
		writeFile(t, changing, randomBytes(bigUploadSize))
		info, err := os.Stat(changing)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"upload", "--chunk-size", bigUploadChunk, "--parallel", "1", "--batch", "changes", good, changing}
		p := startCLI(t, bin, cliEnv(r), args...)
		awaitReceived(r, 1<<20, p)
		killCLI(t, p)

		// Other bytes, the same size and time: only the hash can tell.
		writeFile(t, changing, randomBytes(bigUploadSize))
		if err := os.Chtimes(changing, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}
		res := runBinary(t, bin, cliEnv(r), args...)
		if res.code == 0 {
			r.fatalf("the upload of a file that changed exited 0: %v", res)
		}
		for _, want := range []string{"1 of 2 files stored", "failed: " + changing, "changed while it was being uploaded"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("the summary does not say %q:\n%v", want, res)
			}
		}
		if !strings.Contains(res.stderr, "ingest: 1 of 2 files failed: "+changing) {
			t.Errorf("stderr does not name the failed file:\n%s", res.stderr)
		}
		if !strings.Contains(res.stdout, "stored "+good) {
			t.Errorf("the good file is not reported stored:\n%s", res.stdout)
		}
	})
}

func TestPlainProgressLogsEachQuarterOnce(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newUploadProgress(&out, nil) // a buffer is no terminal: plain lines
	p.started("/data/a.bin", 1024, 4096)
	for range 12 {
		p.sent("/data/a.bin", 256)
	}
	p.ended("/data/a.bin", true)
	p.finish()
	want := "uploading /data/a.bin (4.0 KiB; 1.0 KiB already on the server)\n" +
		"/data/a.bin: 50% (2.0 KiB of 4.0 KiB)\n" +
		"/data/a.bin: 75% (3.0 KiB of 4.0 KiB)\n"
	if out.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", out.String(), want)
	}
}
