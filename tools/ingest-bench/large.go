package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// largeTarget is the least portal/reference throughput ratio for one large file.
const largeTarget = 0.9

// large uploads one large file to the portal in parts, in parallel, and to the reference as one
// stream, once per round, and compares their throughput.
func (b *bench) large(ctx context.Context) (err error) {
	cfg := b.cfg
	src, err := b.data.source(0, cfg.largeSize)
	if err != nil {
		return err
	}
	ref, err := b.startReference(ctx, scenarioLarge)
	if err != nil {
		return err
	}
	portal, err := b.startPortal(ctx, scenarioLarge)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := b.stopAll(portal, ref); err == nil {
			err = stopErr
		}
	}()
	fmt.Fprintf(b.out, "one file of %s (sha256 %.16s…): portal in %s parts, %d in flight; reference in one streamed request\n\n",
		bytesize.Format(src.size), src.sha256, bytesize.Format(cfg.partSize), cfg.largeParallel)

	t := newTable(b.out, "round", "server", "seconds", "MB/s", "server CPU s", "client CPU s", "notes")
	var ratios []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pm, rm measurement
		var run partsRun
		onPortal := func() (err error) {
			pm, err = measure(portal.proc.pid(), func() (time.Duration, error) {
				var uploadErr error
				run, uploadErr = uploadInParts(ctx, portal.api, fmt.Sprintf("large-%d.bin", round), src, cfg.partSize, cfg.largeParallel)
				return run.elapsed, uploadErr
			})
			return err
		}
		onReference := func() (err error) {
			rm, err = measure(ref.proc.pid(), timed(func() error { return referenceUpload(ctx, ref.api, src) }))
			return err
		}
		if err := inOrder(round, onPortal, onReference); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		ratios = append(ratios, rm.elapsed.Seconds()/pm.elapsed.Seconds()) // the same bytes: the inverse ratio of times
		notes := fmt.Sprintf("complete %.1f ms on the server (%.1f ms round trip); %d of %d parts hashed before it",
			millis(run.completeServer), millis(run.completeRTT), run.hashedParts, run.totalParts)
		t.row(largeRow(round, "portal", pm, src.size, notes)...)
		t.row(largeRow(round, "reference", rm, src.size, "")...)
	}
	t.flush()
	ratio := median(ratios)
	fmt.Fprintf(b.out, "\nportal/reference throughput: %s per round; median %.2f× (target ≥ %.2f×)\n", formatRatios(ratios), ratio, largeTarget)
	b.record(result{scenario: scenarioLarge, met: ratio >= largeTarget, target: targets[scenarioLarge],
		measured: fmt.Sprintf("%.2f× (median of %d; %s)", ratio, len(ratios), formatRatios(ratios))})
	return nil
}

func largeRow(round int, server string, m measurement, size int64, notes string) []string {
	return []string{fmt.Sprint(round), server, fmt.Sprintf("%.2f", m.elapsed.Seconds()), fmt.Sprintf("%.0f", mbps(size, m.elapsed)),
		fmt.Sprintf("%.2f", m.serverCPU.Seconds()), fmt.Sprintf("%.2f", m.clientCPU.Seconds()), notes}
}
