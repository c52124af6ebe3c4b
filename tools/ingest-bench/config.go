package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// The scenarios, in the order "all" runs them.
const (
	scenarioLarge    = "large"
	scenarioSmall    = "small"
	scenarioMemory   = "memory"
	scenarioComplete = "complete"
	scenarioCLI      = "cli"
	scenarioTusLarge = "tus-large"
	scenarioTusSmall = "tus-small"
)

// knownScenarios are every scenario, in run order.
var knownScenarios = []string{scenarioLarge, scenarioSmall, scenarioMemory, scenarioComplete, scenarioCLI,
	scenarioTusLarge, scenarioTusSmall}

// scenarioGroups are the names that stand for several scenarios. "all" is every scenario that
// needs only the portal; the tus ones also need a tusd binary (--tusd).
var scenarioGroups = map[string][]string{
	"all": {scenarioLarge, scenarioSmall, scenarioMemory, scenarioComplete, scenarioCLI},
	"tus": {scenarioTusLarge, scenarioTusSmall},
}

// config is the bench's configuration, read from its flags.
type config struct {
	ingest     string   // the ingest binary
	tusd       string   // the tusd binary, for large, small and the tus scenarios; "" to build one
	tusdModule string   // where tusd is built from when tusd is ""
	scenarios  []string // in run order
	dir        string   // where the run's temporary directory is made; "" for the system's
	keep       bool     // keep the work directory
	profiles   string   // where the portal's CPU profiles go; "" for none
	quick      bool
	rounds     int // measurements of each of large, small and complete
	timeout    time.Duration

	partSize int64 // large, memory and complete

	largeSize     int64
	largeParallel int

	smallCount       int
	smallSize        int64
	smallConcurrency int

	memoryUploads  int
	memorySize     int64
	memoryInflight int // parts in flight per upload
	memorySample   time.Duration

	completeSize int64
}

// defaultConfig is the full-size run.
func defaultConfig() config {
	return config{
		scenarios:        scenarioGroups["all"],
		rounds:           3,
		timeout:          time.Hour,
		partSize:         8 << 20,
		largeSize:        1 << 30,
		largeParallel:    4,
		smallCount:       3000,
		smallSize:        4 << 10,
		smallConcurrency: 16,
		memoryUploads:    32,
		memorySize:       256 << 20,
		memoryInflight:   2,
		memorySample:     50 * time.Millisecond,
		completeSize:     1 << 30,
	}
}

// quickSizes shrinks the run about ten times. Flags given on the command line win.
var quickSizes = map[string]func(*config){
	"rounds":        func(c *config) { c.rounds = 1 },
	"large-size":    func(c *config) { c.largeSize = 128 << 20 },
	"small-count":   func(c *config) { c.smallCount = 300 },
	"memory-size":   func(c *config) { c.memorySize = 32 << 20 },
	"complete-size": func(c *config) { c.completeSize = 128 << 20 },
}

// parseFlags reads the configuration from the command line (without the program name).
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("ingest-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ingest-bench --ingest PATH [flags]\n\n"+
			"Measures \"ingest serve\" against a minimal reference ingest server, scenario by scenario.\n"+
			"Build the server first: go build -o /tmp/ingest ./cmd/ingest\n\nflags:\n")
		fs.PrintDefaults()
	}
	scenarios := "all"
	fs.StringVar(&cfg.ingest, "ingest", "", "the `PATH` of the ingest binary to measure (required)")
	fs.StringVar(&cfg.tusd, "tusd", "", "the `PATH` of a tusd binary, for large, small and the tus scenarios (default: build it from "+tusdModuleDir+")")
	fs.StringVar(&scenarios, "scenario", scenarios, "the scenarios to run, comma-separated: "+strings.Join(knownScenarios, ", ")+
		"; all (every scenario but the tus ones) or tus (tus-large, tus-small)")
	fs.StringVar(&cfg.dir, "dir", "", "the `DIR` in which the run's work directory is made (default: the system's temporary directory)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory (data, server logs) after the run")
	fs.StringVar(&cfg.profiles, "cpuprofile", "", "write a CPU profile of the portal in each scenario to `DIR`/SCENARIO.pprof (serve --cpuprofile)")
	fs.BoolVar(&cfg.quick, "quick", false, "shrink sizes and counts about 10x and measure once")
	fs.IntVar(&cfg.rounds, "rounds", cfg.rounds, "measurements of large, small, complete, cli and the tus scenarios, each alternating which server goes first")
	fs.DurationVar(&cfg.timeout, "timeout", cfg.timeout, "give up after this long")
	fs.Var(sizeFlag{&cfg.partSize}, "part-size", "the part size of large, memory, complete and cli")
	fs.Var(sizeFlag{&cfg.largeSize}, "large-size", "large, cli and tus-large: the size of the file")
	fs.IntVar(&cfg.largeParallel, "large-parallel", cfg.largeParallel, "large and cli: parts in flight")
	fs.IntVar(&cfg.smallCount, "small-count", cfg.smallCount, "small and tus-small: files uploaded")
	fs.Var(sizeFlag{&cfg.smallSize}, "small-size", "small and tus-small: the size of each file")
	fs.IntVar(&cfg.smallConcurrency, "small-concurrency", cfg.smallConcurrency, "small and tus-small: uploads in flight")
	fs.IntVar(&cfg.memoryUploads, "memory-uploads", cfg.memoryUploads, "memory: uploads at once")
	fs.Var(sizeFlag{&cfg.memorySize}, "memory-size", "memory: the size of each upload")
	fs.IntVar(&cfg.memoryInflight, "memory-inflight", cfg.memoryInflight, "memory: parts in flight per upload")
	fs.DurationVar(&cfg.memorySample, "memory-sample", cfg.memorySample, "memory: how often the server's RSS is read")
	fs.Var(sizeFlag{&cfg.completeSize}, "complete-size", "complete: the size of the file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, shrink := range quickSizes {
			if !set[name] {
				shrink(&cfg)
			}
		}
	}
	var err error
	if cfg.scenarios, err = parseScenarios(scenarios); err != nil {
		return cfg, err
	}
	if cfg.profiles != "" {
		// serve runs in its own data directory: it is given the profiles' absolute path.
		if cfg.profiles, err = filepath.Abs(cfg.profiles); err != nil {
			return cfg, err
		}
		if err := os.MkdirAll(cfg.profiles, 0o755); err != nil {
			return cfg, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if cfg.needsTusd() && cfg.tusd == "" {
		if cfg.tusdModule, err = findTusdModule(); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.validate()
}

// parseScenarios reads a comma-separated list of scenarios and groups ("all", "tus") into run
// order.
func parseScenarios(s string) ([]string, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if group, ok := scenarioGroups[name]; ok {
			for _, g := range group {
				want[g] = true
			}
			continue
		}
		if !slices.Contains(knownScenarios, name) {
			return nil, fmt.Errorf("--scenario: unknown scenario %q (want %s, all or tus)", name, strings.Join(knownScenarios, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, name := range knownScenarios {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func (c config) validate() error {
	if c.ingest == "" {
		return errors.New("--ingest is required: go build -o /tmp/ingest ./cmd/ingest, then --ingest /tmp/ingest")
	}
	if err := checkExecutable("ingest", c.ingest); err != nil {
		return err
	}
	if c.needsTusd() && c.tusd != "" {
		if err := checkExecutable("tusd", c.tusd); err != nil {
			return err
		}
	}
	positive := []struct {
		name  string
		value int64
	}{
		{"rounds", int64(c.rounds)}, {"part-size", c.partSize},
		{"large-size", c.largeSize}, {"large-parallel", int64(c.largeParallel)},
		{"small-count", int64(c.smallCount)}, {"small-size", c.smallSize}, {"small-concurrency", int64(c.smallConcurrency)},
		{"memory-uploads", int64(c.memoryUploads)}, {"memory-size", c.memorySize}, {"memory-inflight", int64(c.memoryInflight)},
		{"memory-sample", int64(c.memorySample)}, {"complete-size", c.completeSize}, {"timeout", int64(c.timeout)},
	}
	for _, p := range positive {
		if p.value <= 0 {
			return fmt.Errorf("--%s must be positive", p.name)
		}
	}
	if c.smallCount > 1_000_000 || int64(c.smallCount)*c.smallSize > 2<<30 {
		return errors.New("--small-count x --small-size: the small files are kept in memory; keep them under 2 GiB")
	}
	return nil
}

// checkExecutable checks that the --flag names an executable file.
func checkExecutable(flag, path string) error {
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	} else if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("--%s: %s is not an executable file", flag, path)
	}
	return nil
}

// needsTusd reports whether a chosen scenario measures against tusd.
func (c config) needsTusd() bool {
	return slices.ContainsFunc(c.scenarios, func(s string) bool {
		return slices.Contains([]string{scenarioLarge, scenarioSmall, scenarioTusLarge, scenarioTusSmall}, s)
	})
}

// datasetSize is the size of the random file the scenarios read their bytes from.
func (c config) datasetSize() int64 {
	var size int64
	for _, s := range c.scenarios {
		switch s {
		case scenarioLarge, scenarioCLI, scenarioTusLarge:
			size = max(size, c.largeSize)
		case scenarioMemory:
			size = max(size, c.memorySize)
		case scenarioComplete:
			size = max(size, c.completeSize)
		}
	}
	return size
}

// sizeFlag is a flag.Value holding a size in bytes, written 8MiB, 1GiB, 4KiB, 1GB or 4096.
type sizeFlag struct{ p *int64 }

func (f sizeFlag) String() string {
	if f.p == nil {
		return ""
	}
	return bytesize.Format(*f.p)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

// parseSize reads a size such as 8MiB, 1GiB or 4096 (bytes).
func parseSize(s string) (int64, error) {
	n, ok := bytesize.Parse(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a size such as 8MiB, 1GiB or 4096", s)
	}
	return n, nil
}
