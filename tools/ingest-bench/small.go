package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// The least portal/reference and portal/tusd files-per-second ratios for small files.
const (
	smallTarget     = 0.7
	smallTusdTarget = 1.0
)

// smallFiles are the small scenario's files, in memory, with their SHA-256s.
type smallFiles struct {
	data [][]byte
	sums []string
}

func makeSmallFiles(count int, size int64) smallFiles {
	rng := rand.NewChaCha8([32]byte{'s', 'm', 'a', 'l', 'l'})
	files := smallFiles{data: make([][]byte, count), sums: make([]string, count)}
	for i := range count {
		files.data[i] = make([]byte, size)
		_, _ = rng.Read(files.data[i]) // ChaCha8.Read never fails
		sum := sha256.Sum256(files.data[i])
		files.sums[i] = hex.EncodeToString(sum[:])
	}
	return files
}

// small uploads many small files, each in one request, concurrently, to the portal, to the
// reference and to tusd (creation-with-upload), once each per round, and compares the files per
// second.
func (b *bench) small(ctx context.Context) (err error) {
	cfg := b.cfg
	files := makeSmallFiles(cfg.smallCount, cfg.smallSize)
	ref, err := b.startReference(ctx, scenarioSmall)
	if err != nil {
		return err
	}
	portal, err := b.startPortal(ctx, scenarioSmall)
	if err != nil {
		return err
	}
	tusd, err := b.startTusd(ctx, scenarioSmall)
	defer func() {
		if stopErr := b.stopAll(portal, ref, tusd); err == nil {
			err = stopErr
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%d files of %s, %d in flight: portal POST /api/v1/files; reference POST /files; tusd POST %s with the whole body\n\n",
		cfg.smallCount, bytesize.Format(cfg.smallSize), cfg.smallConcurrency, tusd.tusPath)

	t := newTable(b.out, "round", "server", "seconds", "files/s", "p50 ms", "p99 ms", "max ms", "server CPU ms/file", "client CPU s")
	var ratios, tusdRatios []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pm, rm, tm smallRun
		onPortal := func() (err error) {
			pm, err = measureSmall(ctx, portal, cfg, func(ctx context.Context, i int) error {
				return portal.api.putFile(ctx, fmt.Sprintf("small-%d-%05d.bin", round, i), files.data[i], files.sums[i])
			})
			return err
		}
		onReference := func() (err error) {
			rm, err = measureSmall(ctx, ref, cfg, func(ctx context.Context, i int) error {
				return ref.api.referenceStore(ctx, bytes.NewReader(files.data[i]), cfg.smallSize, files.sums[i])
			})
			return err
		}
		onTusd := func() (err error) {
			tm, err = measureTusdSmall(ctx, tusd, cfg, files, fmt.Sprintf("small-%d", round))
			return err
		}
		if err := inOrder(round, onPortal, onReference, b.settled(onTusd)); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		ratios = append(ratios, pm.rate()/rm.rate())
		tusdRatios = append(tusdRatios, pm.rate()/tm.rate())
		t.row(pm.row(round, "portal")...)
		t.row(rm.row(round, "reference")...)
		t.row(tm.row(round, "tusd")...)
	}
	t.flush()
	fmt.Fprintln(b.out)
	b.compare(scenarioSmall, "reference", "files per second", ratios, smallTarget)
	b.compare(scenarioSmall+"/tusd", "tusd", "files per second", tusdRatios, smallTusdTarget)
	return nil
}

// smallRun is one server's measurement of the small files.
type smallRun struct {
	measurement
	count     int
	latencies []time.Duration
}

// measureSmall sends the small files to s with send, cfg.smallConcurrency at a time.
func measureSmall(ctx context.Context, s *server, cfg config, send func(ctx context.Context, i int) error) (smallRun, error) {
	run := smallRun{count: cfg.smallCount}
	var err error
	run.measurement, err = measure(s.proc.pid(), func() (time.Duration, error) {
		var elapsed time.Duration
		var sendErr error
		elapsed, run.latencies, sendErr = sendConcurrently(ctx, cfg.smallCount, cfg.smallConcurrency, send)
		return elapsed, sendErr
	})
	return run, err
}

// rate is files per second.
func (r smallRun) rate() float64 { return float64(r.count) / r.elapsed.Seconds() }

func (r smallRun) row(round int, server string) []string {
	return []string{fmt.Sprint(round), server, fmt.Sprintf("%.2f", r.elapsed.Seconds()), fmt.Sprintf("%.0f", r.rate()),
		fmt.Sprintf("%.1f", millis(percentile(r.latencies, 50))), fmt.Sprintf("%.1f", millis(percentile(r.latencies, 99))),
		fmt.Sprintf("%.1f", millis(percentile(r.latencies, 100))),
		fmt.Sprintf("%.2f", millis(r.serverCPU)/float64(r.count)), fmt.Sprintf("%.2f", r.clientCPU.Seconds())}
}

// sendConcurrently calls send for 0..count-1, concurrency at a time, and returns the total time
// and each call's latency. The first error stops it.
func sendConcurrently(ctx context.Context, count, concurrency int, send func(ctx context.Context, i int) error) (time.Duration, []time.Duration, error) {
	latencies := make([]time.Duration, count)
	var next atomic.Int64 // each index is taken, and its latency written, by one sender
	g, gctx := newGroup(ctx)
	start := time.Now()
	for range min(concurrency, count) {
		g.Go(func() error {
			for i := int(next.Add(1)) - 1; i < count; i = int(next.Add(1)) - 1 {
				t0 := time.Now()
				if err := send(gctx, i); err != nil {
					return fmt.Errorf("file %d: %w", i, err)
				}
				latencies[i] = time.Since(t0)
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), latencies, err
}
