package main

import (
	"context"
	"fmt"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// memoryTarget is the most resident memory the portal may use while taking the memory scenario.
const memoryTarget = 150 << 20

// memory starts many uploads in parts at once and reads the portal's resident memory meanwhile.
func (b *bench) memory(ctx context.Context) (err error) {
	cfg := b.cfg
	portal, err := b.startPortal(ctx, scenarioMemory)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := b.stopAll(portal); err == nil {
			err = stopErr
		}
	}()
	sources, sessions, err := b.createMemoryUploads(ctx, portal)
	if err != nil {
		return err
	}
	total := int64(cfg.memoryUploads) * cfg.memorySize
	fmt.Fprintf(b.out, "%d uploads of %s at once (%s in all), %s parts, %d in flight per upload (%d requests at once)\n\n",
		cfg.memoryUploads, bytesize.Format(cfg.memorySize), bytesize.Format(total), bytesize.Format(cfg.partSize),
		cfg.memoryInflight, cfg.memoryUploads*min(cfg.memoryInflight, sessions[0].TotalParts))

	pid := portal.proc.pid()
	baseline, err := processStatus(pid)
	if err != nil {
		return err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	peaks := sampleRSS(sampleCtx, pid, cfg.memorySample)
	m, err := measure(pid, timed(func() error { return uploadAll(ctx, portal.api, sessions, sources, cfg.memoryInflight) }))
	stopSampling()
	peak := <-peaks
	if err != nil {
		fmt.Fprintf(b.out, "peak VmRSS of the portal until the failure: %.1f MiB (%d samples)\n", mib(peak.rss()), peak.samples)
		return err
	}
	final, err := processStatus(pid)
	if err != nil {
		return err
	}
	hwm := final["VmHWM"]

	t := newTable(b.out, "seconds", "MB/s", "server CPU s", "RSS before", "peak VmRSS (samples)", "VmHWM", "at the peak: RssAnon", "RssFile", "RssShmem")
	t.row(fmt.Sprintf("%.1f", m.elapsed.Seconds()), fmt.Sprintf("%.0f", mbps(total, m.elapsed)), fmt.Sprintf("%.1f", m.serverCPU.Seconds()),
		mibCell(baseline["VmRSS"]), fmt.Sprintf("%s (%d every %s)", mibCell(peak.rss()), peak.samples, cfg.memorySample),
		mibCell(hwm), mibCell(peak.status["RssAnon"]), mibCell(peak.status["RssFile"]), mibCell(peak.status["RssShmem"]))
	t.flush()
	// VmHWM is the kernel's own high-water mark, which no sampling interval can miss.
	worst := max(hwm, peak.rss())
	fmt.Fprintf(b.out, "\npeak resident memory of the portal: %.1f MiB (target ≤ %d MiB); its %s of data are deleted when it stops\n",
		mib(worst), memoryTarget>>20, bytesize.Format(total))
	b.record(result{scenario: scenarioMemory, met: worst <= memoryTarget, target: targets[scenarioMemory],
		measured: fmt.Sprintf("%.1f MiB peak RSS (%d × %s, %d parts in flight each)", mib(worst), cfg.memoryUploads,
			bytesize.Format(cfg.memorySize), cfg.memoryInflight)})
	return nil
}

// createMemoryUploads opens the memory scenario's upload sessions, before anything is measured.
// Each upload is a slice of the dataset; the slices repeat when the dataset is smaller than all
// of them, which the portal cannot tell.
func (b *bench) createMemoryUploads(ctx context.Context, portal *server) ([]source, []*sessionJSON, error) {
	cfg := b.cfg
	distinct := max(1, b.data.size/cfg.memorySize)
	sources := make([]source, cfg.memoryUploads)
	sessions := make([]*sessionJSON, cfg.memoryUploads)
	for i := range sources {
		var err error
		if sources[i], err = b.data.source(int64(i)%distinct*cfg.memorySize, cfg.memorySize); err != nil {
			return nil, nil, err
		}
		if sessions[i], err = portal.api.createSession(ctx, fmt.Sprintf("memory-%02d.bin", i), sources[i], cfg.partSize); err != nil {
			return nil, nil, err
		}
	}
	return sources, sessions, nil
}

// uploadAll sends every upload at once, inflight parts at a time each, and completes each as
// soon as its parts are in.
func uploadAll(ctx context.Context, api *apiClient, sessions []*sessionJSON, sources []source, inflight int) error {
	g, ctx := newGroup(ctx)
	for i := range sessions {
		g.Go(func() error {
			if err := sendParts(ctx, api, sessions[i], sources[i], inflight); err != nil {
				return fmt.Errorf("upload %d: %w", i, err)
			}
			if err := api.complete(ctx, sessions[i], sources[i]); err != nil {
				return fmt.Errorf("upload %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func mibCell(n int64) string { return fmt.Sprintf("%.1f MiB", mib(n)) }
