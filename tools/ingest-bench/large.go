package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// The least portal/reference and portal/tusd throughput ratios for one large file.
const (
	largeTarget     = 0.9
	largeTusdTarget = 1.0
)

// large uploads one large file to the portal in parts, in parallel, to the reference as one
// stream, and to tusd as tus-js-client does by default (a POST, then one PATCH with the whole
// file), once each per round, and compares their throughput.
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
	tusd, err := b.startTusd(ctx, scenarioLarge)
	defer func() {
		if stopErr := b.stopAll(portal, ref, tusd); err == nil {
			err = stopErr
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "one file of %s (sha256 %.16s…): portal in %s parts, %d in flight; reference in one streamed request; tusd POST then one PATCH\n\n",
		bytesize.Format(src.size), src.sha256, bytesize.Format(cfg.partSize), cfg.largeParallel)

	t := newTable(b.out, "round", "server", "seconds", "MB/s", "server CPU s", "client CPU s", "notes")
	var ratios, tusdRatios []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pm, rm, tm measurement
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
		onTusd := func() (err error) {
			tm, err = measureTusdLarge(ctx, tusd, fmt.Sprintf("large-%d.bin", round), src)
			return err
		}
		if err := inOrder(round, onPortal, onReference, b.settled(onTusd)); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		// The same bytes: the inverse ratio of times.
		ratios = append(ratios, rm.elapsed.Seconds()/pm.elapsed.Seconds())
		tusdRatios = append(tusdRatios, tm.elapsed.Seconds()/pm.elapsed.Seconds())
		notes := fmt.Sprintf("complete %.1f ms on the server (%.1f ms round trip); %d of %d parts hashed before it",
			millis(run.completeServer), millis(run.completeRTT), run.hashedParts, run.totalParts)
		t.row(largeRow(round, "portal", pm, src.size, notes)...)
		t.row(largeRow(round, "reference", rm, src.size, "")...)
		t.row(largeRow(round, "tusd", tm, src.size, "")...)
	}
	t.flush()
	fmt.Fprintln(b.out)
	b.compare(scenarioLarge, "reference", "throughput", ratios, largeTarget)
	b.compare(scenarioLarge+"/tusd", "tusd", "throughput", tusdRatios, largeTusdTarget)
	return nil
}

func largeRow(round int, server string, m measurement, size int64, notes string) []string {
	return []string{fmt.Sprint(round), server, fmt.Sprintf("%.2f", m.elapsed.Seconds()), fmt.Sprintf("%.0f", mbps(size, m.elapsed)),
		fmt.Sprintf("%.2f", m.serverCPU.Seconds()), fmt.Sprintf("%.2f", m.clientCPU.Seconds()), notes}
}
