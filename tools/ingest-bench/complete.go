package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// completeTarget is the longest a completion may take on the portal after an in-order upload.
const completeTarget = 100 * time.Millisecond

// complete uploads a large file in order, one part at a time, once per round, and measures its
// completion: on the portal (its request-duration histogram) and as the client sees it.
func (b *bench) complete(ctx context.Context) (err error) {
	cfg := b.cfg
	src, err := b.data.source(0, cfg.completeSize)
	if err != nil {
		return err
	}
	portal, err := b.startPortal(ctx, scenarioComplete)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := b.stopAll(portal); err == nil {
			err = stopErr
		}
	}()
	fmt.Fprintf(b.out, "one file of %s in %s parts sent in order, one at a time, then POST …/complete\n\n",
		bytesize.Format(src.size), bytesize.Format(cfg.partSize))

	t := newTable(b.out, "round", "upload MB/s", "parts hashed before complete", "complete on the server ms", "complete round trip ms")
	var worst time.Duration
	var servers []float64
	for round := 1; round <= cfg.rounds; round++ {
		run, err := uploadInParts(ctx, portal.api, fmt.Sprintf("complete-%d.bin", round), src, cfg.partSize, 1)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		worst = max(worst, run.completeServer, run.completeRTT)
		servers = append(servers, millis(run.completeServer))
		t.row(fmt.Sprint(round), fmt.Sprintf("%.0f", mbps(src.size, run.elapsed)), fmt.Sprintf("%d of %d", run.hashedParts, run.totalParts),
			fmt.Sprintf("%.1f", millis(run.completeServer)), fmt.Sprintf("%.1f", millis(run.completeRTT)))
	}
	t.flush()
	fmt.Fprintf(b.out, "\ncompletion after an in-order upload of %s: worst %.1f ms, server median %.1f ms (target < %d ms)\n",
		bytesize.Format(src.size), millis(worst), median(servers), completeTarget.Milliseconds())
	b.record(result{scenario: scenarioComplete, met: worst < completeTarget, target: targets[scenarioComplete],
		measured: fmt.Sprintf("%.1f ms worst of %d (server median %.1f ms)", millis(worst), cfg.rounds, median(servers))})
	return nil
}
