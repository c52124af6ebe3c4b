package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

const (
	// adminTokenPrefix starts the line on which "ingest serve" prints the first admin's token.
	adminTokenPrefix = "admin token: "
	// defaultMaxSingleUpload is the portal's default --max-single-upload.
	defaultMaxSingleUpload = 64 << 20
)

// bench is one run of the bench: its work directory, the servers it started, and the verdicts.
type bench struct {
	cfg     config
	cmdLine []string
	out     io.Writer
	work    string // the run's own directory, removed at the end unless kept
	data    *dataset
	servers []*server // running, stopped at the end whatever happens
	results []result
}

// server is a running server under test: the portal or the reference.
type server struct {
	name string
	proc *process
	api  *apiClient
	dir  string // its data
	// tusPath is where a tus server takes its creation requests (/tus/, /files/); "" otherwise.
	tusPath string
}

// result is a scenario's verdict against its target.
type result struct {
	scenario string
	measured string
	target   string
	met      bool
	failed   bool // the scenario did not finish: an error, not a measurement
}

// newBench makes the run's work directory.
func newBench(cfg config, cmdLine []string, out io.Writer) (*bench, error) {
	parent := cfg.dir
	if parent != "" {
		if err := os.MkdirAll(parent, 0o750); err != nil {
			return nil, fmt.Errorf("--dir: %w", err)
		}
	}
	work, err := os.MkdirTemp(parent, "ingest-bench-")
	if err != nil {
		return nil, fmt.Errorf("make the work directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(work, "logs"), 0o750); err != nil {
		return nil, fmt.Errorf("make the work directory: %w", err)
	}
	return &bench{cfg: cfg, cmdLine: cmdLine, out: out, work: work}, nil
}

// run runs the configured scenarios in order and prints the summary. It stops at the first error.
func (b *bench) run(ctx context.Context) error {
	b.printHeader(ctx)
	if b.cfg.needsTusd() && b.cfg.tusd == "" {
		if err := b.buildTusd(ctx); err != nil {
			return err
		}
	}
	if size := b.cfg.datasetSize(); size > 0 {
		start := time.Now()
		data, err := writeDataset(ctx, filepath.Join(b.work, "dataset.bin"), size)
		if err != nil {
			return err
		}
		b.data = data
		fmt.Fprintf(b.out, "dataset:   %s of random bytes written and synced in %.1f s\n", bytesize.Format(size), time.Since(start).Seconds())
	}
	scenarios := map[string]func(context.Context) error{
		scenarioLarge: b.large, scenarioSmall: b.small, scenarioMemory: b.memory, scenarioComplete: b.complete,
		scenarioCLI: b.cli, scenarioTusLarge: b.tusLarge, scenarioTusSmall: b.tusSmall,
	}
	var failed []string
	for _, name := range b.cfg.scenarios {
		fmt.Fprintf(b.out, "\n== %s\n", name)
		err := scenarios[name](ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil { // interrupted or out of time: stop here
			b.printSummary()
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		// A failed scenario says so loudly and the others still run: their figures stand alone.
		fmt.Fprintf(b.out, "\nFAILED: %v\n", err)
		failed = append(failed, name)
		b.record(result{scenario: name, measured: "failed: " + firstLine(err.Error(), 90), target: targets[name], failed: true})
	}
	b.printSummary()
	if len(failed) > 0 {
		return fmt.Errorf("scenario(s) failed: %s (see above)", strings.Join(failed, ", "))
	}
	return nil
}

// firstLine shortens a message to its first line and at most n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// close stops every server still running and removes the work directory, unless it is kept.
// After a failure the logs are kept for inspection, and only the bulky data is removed.
func (b *bench) close(failed bool) {
	for _, s := range b.servers {
		s.proc.kill()
		if s.api != nil {
			s.api.close()
		}
	}
	b.servers = nil
	switch {
	case b.cfg.keep:
		fmt.Fprintf(b.out, "\nwork directory kept: %s\n", b.work)
	case failed:
		entries, _ := os.ReadDir(b.work)
		for _, e := range entries {
			if e.Name() != "logs" {
				_ = os.RemoveAll(filepath.Join(b.work, e.Name()))
			}
		}
		fmt.Fprintf(b.out, "\nthe servers' logs are kept in %s\n", filepath.Join(b.work, "logs"))
	default:
		if err := os.RemoveAll(b.work); err != nil {
			fmt.Fprintf(b.out, "\nremove the work directory: %v\n", err)
		}
	}
}

// startPortal starts "ingest serve" on a free port with a fresh data directory (SQLite, local
// storage), and takes the admin token from its standard output.
func (b *bench) startPortal(ctx context.Context, scenario string) (*server, error) {
	dir := filepath.Join(b.work, scenario+"-portal")
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}
	if b.cfg.profiles != "" {
		args = append(args, "--cpuprofile", filepath.Join(b.cfg.profiles, scenario+".pprof"))
	}
	if b.cfg.smallSize > defaultMaxSingleUpload {
		args = append(args, "--max-single-upload", strconv.FormatInt(b.cfg.smallSize, 10))
	}
	s, err := b.start(scenario+" portal", dir, b.cfg.ingest, args)
	if err != nil {
		return nil, err
	}
	var url, token string
	err = s.proc.awaitStart(ctx, func(line string) bool {
		if t, ok := strings.CutPrefix(line, adminTokenPrefix); ok {
			token = strings.TrimSpace(t)
		}
		if strings.Contains(line, "msg=listening") {
			url = urlField(line)
		}
		return url != "" && token != ""
	})
	if err != nil {
		return nil, err
	}
	s.api = newAPIClient(url, token)
	if err := s.api.awaitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// startReference starts the reference server: this program, as a process of its own, so that it
// competes for the machine the way the portal does.
func (b *bench) startReference(ctx context.Context, scenario string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the reference: %w", err)
	}
	dir := filepath.Join(b.work, scenario+"-reference")
	s, err := b.start(scenario+" reference", dir, self, []string{referenceCommand, "--addr", "127.0.0.1:0", "--dir", dir})
	if err != nil {
		return nil, err
	}
	var url string
	if err := s.proc.awaitStart(ctx, func(line string) bool {
		url = urlField(line)
		return url != ""
	}); err != nil {
		return nil, err
	}
	s.api = newAPIClient(url, "")
	return s, nil
}

// start starts a server process and registers it for the cleanup.
func (b *bench) start(name, dir, path string, args []string) (*server, error) {
	logName := strings.ReplaceAll(name, " ", "-") + ".log"
	p, err := startProcess(name, filepath.Join(b.work, "logs", logName), path, args...)
	if err != nil {
		return nil, err
	}
	s := &server{name: name, proc: p, dir: dir}
	b.servers = append(b.servers, s)
	return s, nil
}

// stop stops a server, checks that it stopped cleanly, and removes its data unless kept.
func (b *bench) stop(s *server) error {
	b.servers = slices.DeleteFunc(b.servers, func(o *server) bool { return o == s })
	if s.api != nil {
		s.api.close()
	}
	err := s.proc.stop()
	if !b.cfg.keep {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// stopAll stops servers, returning every error.
func (b *bench) stopAll(servers ...*server) error {
	var errs []error
	for _, s := range servers {
		if s != nil {
			errs = append(errs, b.stop(s))
		}
	}
	return errors.Join(errs...)
}

func (b *bench) record(r result) { b.results = append(b.results, r) }

// compare prints the portal/peer ratios of what (higher is better for the portal) with their
// median, and records the median against target as the summary's line name.
func (b *bench) compare(name, peer, what string, ratios []float64, target float64) {
	ratio := median(ratios)
	fmt.Fprintf(b.out, "portal/%s %s: %s per round; median %.2f× (target ≥ %.2f×)\n", peer, what, formatRatios(ratios), ratio, target)
	b.record(result{scenario: name, met: ratio >= target, target: fmt.Sprintf("≥ %.2f× %s", target, peer),
		measured: fmt.Sprintf("%.2f× (median of %d; %s)", ratio, len(ratios), formatRatios(ratios))})
}

func (b *bench) printHeader(ctx context.Context) {
	m := describeMachine(ctx, b.cfg.ingest, b.work)
	fmt.Fprintf(b.out, "command:   %s\n", shellQuote(b.cmdLine))
	fmt.Fprintf(b.out, "bench:     %s %s/%s, GOMAXPROCS %d\n", m.goVersion, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Fprintf(b.out, "ingest:    %s (%s)\n", orUnknown(m.ingestVers), b.cfg.ingest)
	if b.cfg.tusd != "" {
		fmt.Fprintf(b.out, "tusd:      %s (%s)\n", orUnknown(tusdVersion(ctx, b.cfg.tusd)), b.cfg.tusd)
	}
	fmt.Fprintf(b.out, "machine:   %d CPUs, %s, %.1f GiB RAM, kernel %s\n", m.cpus, m.cpuModel, float64(m.memory)/(1<<30), m.kernel)
	fmt.Fprintf(b.out, "work dir:  %s (%s on %s)\n", b.work, m.fsType, orUnknown(m.fsSource))
	fmt.Fprintf(b.out, "started:   %s\n", time.Now().UTC().Format(time.RFC3339))
}

func (b *bench) printSummary() {
	if len(b.results) == 0 {
		return
	}
	fmt.Fprintf(b.out, "\n== summary\n")
	t := newTable(b.out, "scenario", "measured", "target", "result")
	for _, r := range b.results {
		verdict := "MET"
		switch {
		case r.failed:
			verdict = "FAILED"
		case !r.met:
			verdict = "MISSED"
		}
		t.row(r.scenario, r.measured, r.target, verdict)
	}
	t.flush()
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() { _ = t.tw.Flush() }

// measurement is one timed run against one server.
type measurement struct {
	elapsed   time.Duration
	serverCPU time.Duration // the server process's user + system time
	clientCPU time.Duration // the bench's, which includes the client
}

// measure times fn and the CPU the server pid and the bench spend meanwhile.
func measure(pid int, fn func() (time.Duration, error)) (measurement, error) {
	server0, err := processCPU(pid)
	if err != nil {
		return measurement{}, err
	}
	client0 := selfCPU()
	elapsed, err := fn()
	if err != nil {
		return measurement{}, err
	}
	m := measurement{elapsed: elapsed, clientCPU: selfCPU() - client0}
	server1, err := processCPU(pid)
	if err != nil {
		return measurement{}, err
	}
	m.serverCPU = server1 - server0
	return m, nil
}

// timed returns fn as a function that reports its own duration.
func timed(fn func() error) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		start := time.Now()
		err := fn()
		return time.Since(start), err
	}
}

// inOrder runs the round's measurements, rotating which goes first from round to round, so that
// none always has the warmer (or the more written-back) machine.
func inOrder(round int, runs ...func() error) error {
	for i := range runs {
		if err := runs[(i+round-1)%len(runs)](); err != nil {
			return err
		}
	}
	return nil
}

// group runs functions concurrently and returns the first error, which cancels the others.
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelCauseFunc
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel(err)
			})
		}
	})
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel(nil)
	return g.err
}

// mbps is decimal megabytes (10^6 bytes) per second.
func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the p-th percentile (0..100) of durations, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func formatRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}

// shellQuote writes a command line as one would type it.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// targets are the scenarios' targets, as the summary prints them.
var targets = map[string]string{
	scenarioLarge:    fmt.Sprintf("≥ %.2f× reference", largeTarget),
	scenarioSmall:    fmt.Sprintf("≥ %.2f× reference", smallTarget),
	scenarioMemory:   fmt.Sprintf("≤ %d MiB", memoryTarget>>20),
	scenarioComplete: fmt.Sprintf("< %d ms", completeTarget.Milliseconds()),
	scenarioCLI:      fmt.Sprintf("≥ %.2f×, < %d MiB", cliTarget, cliRSSTarget>>20),
	scenarioTusLarge: fmt.Sprintf("≥ %.2f× tusd", tusLargeTarget),
	scenarioTusSmall: fmt.Sprintf("≥ %.2f× tusd", tusSmallTarget),
}
