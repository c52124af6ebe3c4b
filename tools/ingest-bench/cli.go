package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

// The targets of "ingest upload" (issue 5): the throughput of the bench's own client, nearly, and
// a bounded memory whatever the file's size.
const (
	cliTarget    = 0.9
	cliRSSTarget = 64 << 20
)

// cli uploads the dataset as one file with the built "ingest upload", and with the bench's own
// client (parts of the same size, as many in flight), against the same portal, once each per
// round, and compares their throughput and the command's peak resident memory.
func (b *bench) cli(ctx context.Context) (err error) {
	cfg := b.cfg
	src, err := b.data.source(0, b.data.size)
	if err != nil {
		return err
	}
	portal, err := b.startPortal(ctx, scenarioCLI)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := b.stopAll(portal); err == nil {
			err = stopErr
		}
	}()
	fmt.Fprintf(b.out, "one file of %s: \"ingest upload --chunk-size %s --parallel %d\" and the bench's client, the same parts\n\n",
		bytesize.Format(src.size), bytesize.Format(cfg.partSize), cfg.largeParallel)

	t := newTable(b.out, "round", "client", "seconds", "MB/s", "server CPU s", "client CPU s", "peak RSS")
	var ratios []float64
	var worstRSS int64
	for round := 1; round <= cfg.rounds; round++ {
		var bm, cm measurement
		var rss int64
		onBench := func() (err error) {
			bm, err = measure(portal.proc.pid(), func() (time.Duration, error) {
				run, err := uploadInParts(ctx, portal.api, fmt.Sprintf("cli-bench-%d.bin", round), src, cfg.partSize, cfg.largeParallel)
				return run.elapsed, err
			})
			return err
		}
		onCLI := func() (err error) {
			cm, rss, err = b.runUpload(ctx, portal, round, src)
			return err
		}
		if err := inOrder(round, onBench, onCLI); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		ratios = append(ratios, bm.elapsed.Seconds()/cm.elapsed.Seconds())
		worstRSS = max(worstRSS, rss)
		t.row(largeRow(round, "bench", bm, src.size, "")[:6]...)
		t.row(append(largeRow(round, "ingest upload", cm, src.size, "")[:6], mibCell(rss))...)
	}
	t.flush()
	ratio := median(ratios)
	fmt.Fprintf(b.out, "\ningest upload/bench client throughput: %s per round; median %.2f× (target ≥ %.2f×); peak RSS %.1f MiB (target < %d MiB)\n",
		formatRatios(ratios), ratio, cliTarget, mib(worstRSS), cliRSSTarget>>20)
	b.record(result{scenario: scenarioCLI, met: ratio >= cliTarget && worstRSS < cliRSSTarget, target: targets[scenarioCLI],
		measured: fmt.Sprintf("%.2f× (median of %d; %s), %.1f MiB peak RSS", ratio, len(ratios), formatRatios(ratios), mib(worstRSS))})
	return nil
}

// runUpload runs "ingest upload" of the dataset once, through a hard link of a name of its own so
// that the command's resume key is new and it uploads the whole file, and checks what it stored.
// It returns the measurement and the command's peak resident memory, from the kernel's rusage.
func (b *bench) runUpload(ctx context.Context, portal *server, round int, src source) (measurement, int64, error) {
	cfg := b.cfg
	link := filepath.Join(b.work, fmt.Sprintf("cli-upload-%d.bin", round))
	if err := os.Link(src.data.path, link); err != nil {
		return measurement{}, 0, fmt.Errorf("link the dataset: %w", err)
	}
	defer os.Remove(link)
	cmd := exec.CommandContext(ctx, cfg.ingest, "upload", "--json", "--chunk-size", strconv.FormatInt(cfg.partSize, 10),
		"--parallel", strconv.Itoa(cfg.largeParallel), link)
	cmd.Env = append(os.Environ(), "INGEST_URL="+portal.api.base, "INGEST_TOKEN="+portal.api.token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = sysProcAttr()
	var elapsed time.Duration
	m, err := measure(portal.proc.pid(), func() (time.Duration, error) {
		start := time.Now()
		err := cmd.Run()
		elapsed = time.Since(start)
		return elapsed, err
	})
	if err != nil {
		return m, 0, fmt.Errorf("ingest upload: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	m.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var line struct {
		Status    string `json:"status"`
		SHA256    string `json:"sha256"`
		SizeBytes int64  `json:"size_bytes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &line); err != nil {
		return m, 0, fmt.Errorf("ingest upload printed %q: %w", stdout.String(), err)
	}
	if line.Status != "STORED" || line.SHA256 != src.sha256 || line.SizeBytes != src.size {
		return m, 0, fmt.Errorf("ingest upload stored %s, %d bytes, sha256 %s; want STORED, %d bytes, sha256 %s",
			line.Status, line.SizeBytes, line.SHA256, src.size, src.sha256)
	}
	return m, maxRSS(cmd.ProcessState), nil
}
