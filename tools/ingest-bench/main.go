// Command ingest-bench measures an ingest portal ("ingest serve", SQLite and local storage, as a
// subprocess with a fresh data directory) against a minimal reference ingest server that the
// bench itself runs as a subprocess (body → SHA-256 → file → fsync → rename, one request per
// file, no database), and against tusd v2, on the same machine in the same run, so that their
// ratios mean something on a noisy machine. Scenarios:
//
//   - large: one 1 GiB file, 8 MiB parts, 4 in flight, against the reference's one stream and
//     tusd's one PATCH (MB/s);
//   - small: 3,000 single-request uploads of 4 KiB, 16 at once, against the same (files/s; tusd:
//     creation-with-upload);
//   - memory: 32 uploads of 256 MiB at once; the portal's peak resident memory;
//   - complete: a 1 GiB upload sent in order, then how long completing it takes;
//   - cli: "ingest upload" of the large file against the bench's own client;
//   - tus-large, tus-small: the portal's tus server (/tus/) against tusd: one 1 GiB PATCH, and
//     3,000 creations-with-upload of 4 KiB, 16 at once.
//
// Usage:
//
//	go build -o /tmp/ingest ./cmd/ingest
//	go run ./tools/ingest-bench --ingest /tmp/ingest [--scenario large,small] [--quick]
//	go run ./tools/ingest-bench --ingest /tmp/ingest --scenario tus [--tusd /tmp/tusd]
//
// Without --tusd the bench builds tusd from its module in the repository (tools/ingest-bench/tusd,
// which requires only tusd, so that the portal's module never depends on it); that is all it
// builds. It checks every status and every SHA-256 and stops at the first failure. It runs on
// Linux (it reads /proc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (args[0] is the program) and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 && args[1] == referenceCommand {
		if err := runReference(ctx, args[2:], stdout); err != nil {
			fmt.Fprintf(stderr, "ingest-bench reference: %v\n", err)
			return 1
		}
		return 0
	}
	cfg, err := parseFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ingest-bench: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	b, err := newBench(cfg, args, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ingest-bench: %v\n", err)
		return 1
	}
	err = b.run(ctx)
	b.close(err != nil)
	if err != nil {
		fmt.Fprintf(stderr, "ingest-bench: %v\n", err)
		return 1
	}
	return 0
}
