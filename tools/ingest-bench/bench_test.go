package main

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "4KiB": 4 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30, "1 GB": 1e9, "0": 0} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "GiB", "1XB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
	for _, n := range []int64{1, 4 << 10, 8 << 20, 1 << 30, 3<<20 + 1} {
		if got, err := parseSize(bytesize.Format(n)); err != nil || got != n {
			t.Errorf("parseSize(bytesize.Format(%d)) = %d, %v", n, got, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"--ingest", self, "--quick", "--large-size", "64MiB", "--scenario", "complete,large"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.largeSize != 64<<20 {
		t.Errorf("--large-size given with --quick: %d, want 64MiB", cfg.largeSize)
	}
	if cfg.smallCount != 300 || cfg.completeSize != 128<<20 || cfg.rounds != 1 {
		t.Errorf("--quick did not shrink the rest: %+v", cfg)
	}
	if strings.Join(cfg.scenarios, ",") != "large,complete" {
		t.Errorf("scenarios %v, want the run order large, complete", cfg.scenarios)
	}
	if cfg.datasetSize() != 128<<20 {
		t.Errorf("datasetSize %d, want the largest file of the chosen scenarios", cfg.datasetSize())
	}
	for _, args := range [][]string{
		{}, // no --ingest
		{"--ingest", filepath.Join(t.TempDir(), "x")}, // missing
		{"--ingest", self, "--scenario", "huge"},
		{"--ingest", self, "--rounds", "0"},
		{"--ingest", self, "extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP ingest_http_request_duration_seconds HTTP request latency by route.
# TYPE ingest_http_request_duration_seconds histogram
ingest_http_request_duration_seconds_bucket{method="POST",route="/api/v1/uploads/{id}/complete",le="0.001"} 0
ingest_http_request_duration_seconds_sum{method="POST",route="/api/v1/uploads/{id}/complete"} 0.0125
ingest_http_request_duration_seconds_count{method="POST",route="/api/v1/uploads/{id}/complete"} 2
ingest_http_request_duration_seconds_sum{method="POST",route="/api/v1/files"} 9
ingest_http_request_duration_seconds_count{method="POST",route="/api/v1/files"} 100
odd_metric{label="a \"quoted\", {braced} value"} 1.5e+06 1700000000000
go_goroutines 12
`
	samples, err := parseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 7 {
		t.Fatalf("%d samples, want 7", len(samples))
	}
	if h := routeHistogram(samples, completeRoute); h.sum != 0.0125 || h.count != 2 {
		t.Errorf("complete histogram %+v, want sum 0.0125 count 2", h)
	}
	odd := samples[5]
	if odd.labels["label"] != `a "quoted", {braced} value` || odd.value != 1.5e6 {
		t.Errorf("escaped label: %+v", odd)
	}
	if _, err := parseMetrics(`broken{label="x} 1`); err == nil {
		t.Error("an unterminated label parsed")
	}
}

func TestURLField(t *testing.T) {
	line := `time=2026-01-01T00:00:00Z level=INFO msg=listening url=http://127.0.0.1:4242 database=sqlite`
	if got := urlField(line); got != "http://127.0.0.1:4242" {
		t.Errorf("urlField = %q", got)
	}
	if got := urlField("reference listening url=http://[::1]:80"); got != "http://[::1]:80" {
		t.Errorf("urlField = %q", got)
	}
}

// TestReferenceSections sends ranges of a dataset to the reference over real TCP, the way the
// scenarios do (sendfile for the bulk, Read at the edges), and checks that the reference stored
// exactly those bytes.
func TestReferenceSections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	data, err := writeDataset(ctx, filepath.Join(dir, "dataset.bin"), 3<<20+12345)
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(dir, "stored")
	if err := os.Mkdir(stored, 0o750); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newReferenceServer(stored))
	defer srv.Close()
	api := newAPIClient(srv.URL, "")
	defer api.close()
	ranges := [][2]int64{{0, data.size}, {0, 1 << 20}, {1<<20 + 7, 1 << 20}, {3 << 20, 12345}, {100, 1}}
	for _, r := range ranges {
		src, err := data.source(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		body, err := data.section(src.offset, src.size)
		if err != nil {
			t.Fatal(err)
		}
		if err := api.referenceStore(ctx, body, src.size, src.sha256); err != nil {
			t.Errorf("range %d+%d: %v", r[0], r[1], err)
		}
	}
	entries, err := os.ReadDir(stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(ranges) {
		t.Errorf("the reference stored %d files, want %d", len(entries), len(ranges))
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestReferenceRefusesAShortBody(t *testing.T) {
	ref := newReferenceServer(t.TempDir())
	if _, _, err := ref.store(strings.NewReader("abc"), 4); err == nil {
		t.Error("a body shorter than its Content-Length was stored")
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(ds, 100); p != 100*time.Millisecond {
		t.Errorf("max = %v", p)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"/tmp/ingest-bench", "--ingest", "/tmp/ingest", "--dir", "a b", "it's"})
	want := `/tmp/ingest-bench --ingest /tmp/ingest --dir 'a b' 'it'\''s'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestTusdEndpoint(t *testing.T) {
	for line, want := range map[string]string{
		"2026/12/07 11:16:33.633113 You can now upload files to: http://127.0.0.1:41203/files/":   "http://127.0.0.1:41203/files/",
		`time=x level=INFO msg="You can now upload files to: http://127.0.0.1:80/files/" other=1`: "http://127.0.0.1:80/files/",
		"2026/12/07 11:16:34.249414 Using /files/ as the base path.":                              "",
		"You can now upload files to: unix:/tmp/sock/files/":                                      "",
	} {
		if got := tusdEndpoint(line); got != want {
			t.Errorf("tusdEndpoint(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestTusScenarios(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"--ingest", self}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.needsTusd() || strings.Join(cfg.scenarios, ",") != "large,small,memory,complete,cli" {
		t.Errorf("the default run is %v; want every scenario but the tus ones, large and small against tusd too", cfg.scenarios)
	}
	if want := filepath.FromSlash(tusdModuleDir); !strings.HasSuffix(cfg.tusdModule, want) {
		t.Errorf("without --tusd the bench builds tusd from %q; want the repository's %s", cfg.tusdModule, want)
	}
	cfg, err = parseFlags([]string{"--ingest", self, "--scenario", "memory,complete"}, io.Discard)
	if err != nil || cfg.needsTusd() || cfg.tusdModule != "" {
		t.Errorf("memory and complete: %v, needs tusd %v, builds it from %q; want no tusd", err, cfg.needsTusd(), cfg.tusdModule)
	}
	cfg, err = parseFlags([]string{"--ingest", self, "--tusd", self, "--scenario", "tus,small", "--quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.scenarios, ",") != "small,tus-large,tus-small" || cfg.datasetSize() != 128<<20 || cfg.tusdModule != "" {
		t.Errorf("--scenario tus,small --quick: %v, dataset %d, tusd built from %q; want small, tus-large, tus-small, 128MiB and the tusd given", cfg.scenarios, cfg.datasetSize(), cfg.tusdModule)
	}
	outside := t.TempDir()
	for _, args := range [][]string{
		{"--ingest", self, "--scenario", "tus-small"}, // no --tusd, outside the repository
		{"--ingest", self, "--scenario", "tus-large", "--tusd", filepath.Join(t.TempDir(), "tusd")},
	} {
		t.Chdir(outside)
		if _, err := parseFlags(args, io.Discard); err == nil || !strings.Contains(err.Error(), "--tusd") {
			t.Errorf("parseFlags(%q) = %v; want an error about --tusd", args, err)
		}
	}
}
