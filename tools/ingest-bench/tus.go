package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// The targets of issue 11's tus server: at least tusd's speed, while the portal hashes, fsyncs and
// records every upload and tusd does none of it.
const (
	tusLargeTarget = 1.0
	tusSmallTarget = 1.0
)

const (
	tusVersion = "1.0.0"
	// tusdGreeting starts the part of tusd's start-up line that says where it listens.
	tusdGreeting = "You can now upload files to: "
	// tusBodyType is the Content-Type of a tus request that carries bytes.
	tusBodyType = "application/offset+octet-stream"
)

// tusdModuleDir is tusd's module in the repository: it requires only tusd (a tool directive),
// so that the portal's own module never depends on it.
const tusdModuleDir = "tools/ingest-bench/tusd"

// findTusdModule finds tusdModuleDir in the working directory or one of its parents, so that the
// bench run from anywhere in the repository builds tusd itself.
func findTusdModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod := filepath.Join(dir, filepath.FromSlash(tusdModuleDir))
		if _, err := os.Stat(filepath.Join(mod, "go.mod")); err == nil {
			return mod, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("--tusd: large, small and the tus scenarios measure against tusd, and %s is not in this directory or above it: run the bench from the repository, or build tusd as docs/performance.md says and give --tusd", tusdModuleDir)
		}
		dir = parent
	}
}

// buildTusd builds tusd from its module into the work directory, with its version in its
// -version, and makes it the run's tusd. The go command's caches make a second build quick.
func (b *bench) buildTusd(ctx context.Context) error {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "-C", b.cfg.tusdModule, "list", "-m", "-f", "{{.Version}}", "github.com/tus/tusd/v2").Output()
	if err != nil {
		return fmt.Errorf("build tusd: read its version from %s: %w", b.cfg.tusdModule, err)
	}
	version := strings.TrimSpace(string(out))
	bin := filepath.Join(b.work, "tusd")
	build := exec.CommandContext(ctx, "go", "-C", b.cfg.tusdModule, "build", "-o", bin,
		"-ldflags", "-X github.com/tus/tusd/v2/cmd/tusd/cli.VersionName="+version, "github.com/tus/tusd/v2/cmd/tusd")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build tusd %s from %s: %w\n%s", version, b.cfg.tusdModule, err, out)
	}
	b.cfg.tusd = bin
	fmt.Fprintf(b.out, "tusd:      %s built from %s in %.1f s\n", version, b.cfg.tusdModule, time.Since(start).Seconds())
	return nil
}

// startTusd starts tusd v2 (--tusd) with its file store in the work directory, on a free port,
// and takes its upload URL from its start-up log. Everything else is tusd's default.
func (b *bench) startTusd(ctx context.Context, scenario string) (*server, error) {
	dir := filepath.Join(b.work, scenario+"-tusd")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("start tusd: %w", err)
	}
	s, err := b.start(scenario+" tusd", dir, b.cfg.tusd, []string{"-host", "127.0.0.1", "-port", "0", "-upload-dir", dir})
	if err != nil {
		return nil, err
	}
	var endpoint string
	if err := s.proc.awaitStart(ctx, func(line string) bool {
		endpoint = tusdEndpoint(line)
		return endpoint != ""
	}); err != nil {
		return nil, err
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("tusd listens at %q: %w", endpoint, err)
	}
	s.api = newAPIClient(u.Scheme+"://"+u.Host, "")
	s.tusPath = u.Path
	return s, nil
}

// tusdEndpoint returns the upload URL in tusd's start-up line, or "".
func tusdEndpoint(line string) string {
	_, rest, ok := strings.Cut(line, tusdGreeting)
	if !ok {
		return ""
	}
	end := strings.IndexAny(rest, "\" \t")
	if end >= 0 {
		rest = rest[:end]
	}
	if !strings.HasPrefix(rest, "http://") {
		return ""
	}
	return rest
}

// tusServers starts the portal and tusd for a tus scenario.
func (b *bench) tusServers(ctx context.Context, scenario string) (portal, tusd *server, err error) {
	if tusd, err = b.startTusd(ctx, scenario); err != nil {
		return nil, nil, err
	}
	if portal, err = b.startPortal(ctx, scenario); err != nil {
		return nil, tusd, err
	}
	portal.tusPath = "/tus/"
	return portal, tusd, nil
}

// tusAnswer is what the bench reads from a tus answer.
type tusAnswer struct {
	location string // absolute
	offset   int64
	digest   string // the hex SHA-256 of a Repr-Digest, or ""
	fileID   string // Ingest-File-Id, or ""
}

// tusCall sends one tus request to s and checks its status.
func tusCall(ctx context.Context, s *server, method, target string, header http.Header, body io.Reader, size int64, want int) (tusAnswer, error) {
	what := method + " " + target
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		if c, ok := body.(io.Closer); ok {
			c.Close()
		}
		return tusAnswer{}, fmt.Errorf("%s: %w", what, err)
	}
	req.ContentLength = size
	req.Header = header
	req.Header.Set("Tus-Resumable", tusVersion)
	if s.api.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.api.token)
	}
	resp, err := s.api.hc.Do(req)
	if err != nil {
		return tusAnswer{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body) // whole, so that the connection goes back to the pool
	if err != nil {
		return tusAnswer{}, fmt.Errorf("%s: read the answer: %w", what, err)
	}
	if resp.StatusCode != want {
		return tusAnswer{}, fmt.Errorf("%s: status %d, want %d: %s", what, resp.StatusCode, want, bytes.TrimSpace(data[:min(len(data), 2048)]))
	}
	a := tusAnswer{fileID: resp.Header.Get("Ingest-File-Id")}
	// tusd answers a creation without bytes with no Upload-Offset: none of them is there yet.
	if v := resp.Header.Get("Upload-Offset"); v != "" || method != http.MethodPost {
		if a.offset, err = strconv.ParseInt(v, 10, 64); err != nil {
			return tusAnswer{}, fmt.Errorf("%s: Upload-Offset %q", what, v)
		}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return tusAnswer{}, fmt.Errorf("%s: Location %q: %w", what, loc, err)
		}
		a.location = u.String()
	}
	if d := resp.Header.Get("Repr-Digest"); d != "" {
		b64, ok := strings.CutPrefix(d, "sha-256=:")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(b64, ":"))
		if !ok || err != nil {
			return tusAnswer{}, fmt.Errorf("%s: Repr-Digest %q", what, d)
		}
		a.digest = hex.EncodeToString(raw)
	}
	return a, nil
}

// tusCreate is a creation request: Upload-Length and a file name, and the whole file as its body
// when body is not nil (creation-with-upload).
func tusCreate(ctx context.Context, s *server, name string, size int64, body io.Reader) (tusAnswer, error) {
	h := http.Header{}
	h.Set("Upload-Length", strconv.FormatInt(size, 10))
	h.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name)))
	var bodySize int64
	if body != nil {
		h.Set("Content-Type", tusBodyType)
		bodySize = size
	}
	a, err := tusCall(ctx, s, http.MethodPost, s.api.base+s.tusPath, h, body, bodySize, http.StatusCreated)
	if err != nil {
		return a, err
	}
	if a.location == "" {
		return a, fmt.Errorf("POST %s: no Location", s.tusPath)
	}
	if want := bodySize; a.offset != want {
		return a, fmt.Errorf("POST %s: Upload-Offset %d, want %d", s.tusPath, a.offset, want)
	}
	return a, nil
}

// tusPatch sends size bytes from offset 0 in one PATCH.
func tusPatch(ctx context.Context, s *server, location string, body io.Reader, size int64) (tusAnswer, error) {
	h := http.Header{}
	h.Set("Upload-Offset", "0")
	h.Set("Content-Type", tusBodyType)
	a, err := tusCall(ctx, s, http.MethodPatch, location, h, body, size, http.StatusNoContent)
	if err == nil && a.offset != size {
		err = fmt.Errorf("PATCH %s: Upload-Offset %d, want %d", location, a.offset, size)
	}
	return a, err
}

// checkPortalTus checks that the portal stored a completed tus upload with the SHA-256 sum: the
// Repr-Digest it answered, the server's own hash.
func checkPortalTus(a tusAnswer, sum string) error {
	if a.fileID == "" || a.digest != sum {
		return fmt.Errorf("upload %s: the portal answered file %q with sha256 %q; want a file with sha256 %s", a.location, a.fileID, a.digest, sum)
	}
	return nil
}

// tusdFile is where tusd's file store keeps the bytes of the upload at location.
func tusdFile(s *server, location string) string {
	return filepath.Join(s.dir, path.Base(location))
}

// checkTusdFile checks that tusd stored want at location: its size, and its bytes.
func checkTusdFile(s *server, location string, want []byte) error {
	got, err := os.ReadFile(tusdFile(s, location))
	if err != nil {
		return fmt.Errorf("tusd's upload %s: %w", location, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("tusd's upload %s: %d bytes that differ from the %d sent", location, len(got), len(want))
	}
	return nil
}

// checkTusdLarge checks that tusd stored src at location: its size, and the SHA-256 of its bytes.
func checkTusdLarge(s *server, location string, src source) error {
	f, err := os.Open(tusdFile(s, location))
	if err != nil {
		return fmt.Errorf("tusd's upload %s: %w", location, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("tusd's upload %s: %w", location, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != src.size || sum != src.sha256 {
		return fmt.Errorf("tusd's upload %s: %d bytes, sha256 %s; want %d bytes, sha256 %s", location, n, sum, src.size, src.sha256)
	}
	return nil
}

// tusLarge uploads one large file the way tus-js-client does by default (chunkSize Infinity): a
// POST, then one PATCH with the whole file, to the portal and to tusd, once each per round, and
// compares their throughput.
func (b *bench) tusLarge(ctx context.Context) (err error) {
	cfg := b.cfg
	src, err := b.data.source(0, cfg.largeSize)
	if err != nil {
		return err
	}
	portal, tusd, err := b.tusServers(ctx, scenarioTusLarge)
	defer func() {
		if stopErr := b.stopAll(portal, tusd); err == nil {
			err = stopErr
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "one file of %s (sha256 %.16s…): POST then one PATCH with the whole file; portal %s, tusd %s\n\n",
		bytesize.Format(src.size), src.sha256, portal.tusPath, tusd.tusPath)

	t := newTable(b.out, "round", "server", "seconds", "MB/s", "server CPU s", "client CPU s", "notes")
	var ratios []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pm, tm measurement
		onPortal := func() (err error) {
			var a tusAnswer
			pm, err = measure(portal.proc.pid(), timed(func() (err error) {
				a, err = tusUploadLarge(ctx, portal, fmt.Sprintf("tus-large-%d.bin", round), src)
				return err
			}))
			if err != nil {
				return err
			}
			if err := checkPortalTus(a, src.sha256); err != nil {
				return err
			}
			return checkPortalFile(ctx, portal, a.fileID, src.size, src.sha256)
		}
		onTusd := func() (err error) {
			tm, err = measureTusdLarge(ctx, tusd, fmt.Sprintf("tus-large-%d.bin", round), src)
			return err
		}
		if err := inOrder(round, b.settled(onPortal), b.settled(onTusd)); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		ratios = append(ratios, tm.elapsed.Seconds()/pm.elapsed.Seconds()) // the same bytes: the inverse ratio of times
		t.row(largeRow(round, "portal", pm, src.size, "")...)
		t.row(largeRow(round, "tusd", tm, src.size, "")...)
	}
	t.flush()
	fmt.Fprintln(b.out)
	b.compare(scenarioTusLarge, "tusd", "throughput", ratios, tusLargeTarget)
	return nil
}

// measureTusdLarge uploads src to tusd as tusLarge does, times it, and checks tusd's file (untimed).
func measureTusdLarge(ctx context.Context, tusd *server, name string, src source) (measurement, error) {
	var a tusAnswer
	m, err := measure(tusd.proc.pid(), timed(func() (err error) {
		a, err = tusUploadLarge(ctx, tusd, name, src)
		return err
	}))
	if err != nil {
		return m, err
	}
	return m, checkTusdLarge(tusd, a.location, src)
}

// tusUploadLarge creates an upload of src and sends it whole in one PATCH, from the dataset file
// (sendfile).
func tusUploadLarge(ctx context.Context, s *server, name string, src source) (tusAnswer, error) {
	a, err := tusCreate(ctx, s, name, src.size, nil)
	if err != nil {
		return a, err
	}
	body, err := src.data.section(src.offset, src.size)
	if err != nil {
		return a, err
	}
	done, err := tusPatch(ctx, s, a.location, body, src.size)
	done.location = a.location
	return done, err
}

// checkPortalFile reads a stored file's record from the portal's API and checks it.
func checkPortalFile(ctx context.Context, portal *server, id string, size int64, sum string) error {
	var f fileJSON
	if err := portal.api.do(ctx, call{method: http.MethodGet, path: "/api/v1/files/" + url.PathEscape(id), want: http.StatusOK, out: &f}); err != nil {
		return err
	}
	return checkStored(f, size, sum)
}

// tusSmall uploads many small files, each in one creation-with-upload request, concurrently, to
// the portal and to tusd, once per round, and compares the files per second.
func (b *bench) tusSmall(ctx context.Context) (err error) {
	cfg := b.cfg
	files := makeSmallFiles(cfg.smallCount, cfg.smallSize)
	portal, tusd, err := b.tusServers(ctx, scenarioTusSmall)
	defer func() {
		if stopErr := b.stopAll(portal, tusd); err == nil {
			err = stopErr
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%d files of %s, %d in flight, each one POST with Upload-Length and the whole body: portal %s, tusd %s\n\n",
		cfg.smallCount, bytesize.Format(cfg.smallSize), cfg.smallConcurrency, portal.tusPath, tusd.tusPath)

	t := newTable(b.out, "round", "server", "seconds", "files/s", "p50 ms", "p99 ms", "max ms", "server CPU ms/file", "client CPU s")
	var ratios []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pm, tm smallRun
		onPortal := func() (err error) {
			pm, err = measureSmall(ctx, portal, cfg, func(ctx context.Context, i int) error {
				a, err := tusCreate(ctx, portal, fmt.Sprintf("tus-small-%d-%05d.bin", round, i), cfg.smallSize, bytes.NewReader(files.data[i]))
				if err != nil {
					return err
				}
				return checkPortalTus(a, files.sums[i])
			})
			return err
		}
		onTusd := func() (err error) {
			tm, err = measureTusdSmall(ctx, tusd, cfg, files, fmt.Sprintf("tus-small-%d", round))
			return err
		}
		if err := inOrder(round, b.settled(onPortal), b.settled(onTusd)); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		ratios = append(ratios, pm.rate()/tm.rate())
		t.row(pm.row(round, "portal")...)
		t.row(tm.row(round, "tusd")...)
	}
	t.flush()
	fmt.Fprintln(b.out)
	b.compare(scenarioTusSmall, "tusd", "files per second", ratios, tusSmallTarget)
	return nil
}

// measureTusdSmall sends the small files to tusd, each in one creation-with-upload named
// prefix-NNNNN.bin, and then (untimed, as tusd answers no hash) reads them back and compares them.
func measureTusdSmall(ctx context.Context, tusd *server, cfg config, files smallFiles, prefix string) (smallRun, error) {
	locations := make([]string, cfg.smallCount)
	run, err := measureSmall(ctx, tusd, cfg, func(ctx context.Context, i int) error {
		a, err := tusCreate(ctx, tusd, fmt.Sprintf("%s-%05d.bin", prefix, i), cfg.smallSize, bytes.NewReader(files.data[i]))
		locations[i] = a.location
		return err
	})
	if err != nil {
		return run, err
	}
	for i, loc := range locations {
		if err := checkTusdFile(tusd, loc, files.data[i]); err != nil {
			return run, err
		}
	}
	return run, nil
}

// tusdVersion asks the tusd binary for its version, for the header.
func tusdVersion(ctx context.Context, tusd string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tusd, "-version").Output()
	if err != nil {
		return ""
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(string(out), "Version: "), "\n")
	return strings.TrimSpace(v)
}

// settled returns measure followed, untimed, by a writeback of the work directory's filesystem:
// tusd acknowledges bytes still in the page cache, and without this the server measured next
// would write them out in its own flushes (the portal's next round ran 10–20 % slower after
// tusd's than after its own).
func (b *bench) settled(measure func() error) func() error {
	return func() error {
		if err := measure(); err != nil {
			return err
		}
		if err := settle(b.work); err != nil {
			return fmt.Errorf("write back the work directory: %w", err)
		}
		return nil
	}
}
