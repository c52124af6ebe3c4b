package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/cupwriter"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// uploadProgress shows the progress of "ingest upload". Its methods may be called from several
// goroutines.
type uploadProgress interface {
	started(path string, resumed, size int64) // the upload's plan is known
	sent(path string, n int64)                // the server received n more bytes of the file
	ended(path string, ok bool)
	finish() // after the last file
}

// newUploadProgress returns bars on a terminal and plain log lines otherwise.
func newUploadProgress(w io.Writer, planned map[string]int64) uploadProgress {
	if isTerminal(w) {
		return newBarProgress(w, cupwriter.New(w, false), planned, time.Now)
	}
	return &lineProgress{w: w}
}

// lineProgress logs each file's start and every quarter of it the server has, for logs and
// pipes, where a redrawn bar would be noise.
type lineProgress struct {
	mu    sync.Mutex
	w     io.Writer
	files map[string]*fileTally
}

// fileTally is how much of a file the server has.
type fileTally struct {
	done, size int64
	quarter    int64 // the last quarter logged
}

func (p *lineProgress) started(path string, resumed, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.files == nil {
		p.files = map[string]*fileTally{}
	}
	p.files[path] = &fileTally{done: resumed, size: size, quarter: quarters(resumed, size)}
	if resumed > 0 {
		fmt.Fprintf(p.w, "uploading %s (%s; %s already on the server)\n", path, humanBytes(size), humanBytes(resumed))
		return
	}
	fmt.Fprintf(p.w, "uploading %s (%s)\n", path, humanBytes(size))
}

func (p *lineProgress) sent(path string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.files[path]
	if f == nil {
		return
	}
	f.done += n
	if q := quarters(f.done, f.size); q > f.quarter && q < 4 {
		f.quarter = q
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s)\n", path, q*25, humanBytes(f.done), humanBytes(f.size))
	}
}

// quarters is how many whole quarters of size done is.
func quarters(done, size int64) int64 {
	if size == 0 {
		return 4
	}
	return done * 4 / size
}

func (p *lineProgress) ended(path string, _ bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.files, path)
}

func (p *lineProgress) finish() {}

// barProgress draws one bar per file being uploaded and one for the total: bytes, rate, ETA. The
// total's size is the plan's from the start. A rate counts only the bytes this run sent, not those
// the server already had, and the total completes only when every file was stored: an interrupted
// or failed run leaves it where it stopped.
type barProgress struct {
	p         *mpb.Progress
	total     *mpb.Bar
	now       func() time.Time
	start     time.Time
	sentBytes atomic.Int64 // by this run, over all files

	mu      sync.Mutex
	bars    map[string]*mpb.Bar
	planned map[string]int64 // each file's size when the plan was made
	size    int64            // the total bar's size
	failed  bool
}

// newBarProgress draws on cw, the console writer of the terminal out; opts are for tests.
func newBarProgress(out io.Writer, cw mpb.ConsoleWriter, planned map[string]int64, now func() time.Time,
	opts ...mpb.ContainerOption) *barProgress {
	b := &barProgress{now: now, start: now(), bars: map[string]*mpb.Bar{}, planned: planned}
	for _, n := range planned {
		b.size += n
	}
	opts = append([]mpb.ContainerOption{mpb.WithConsoleWriter(columnZeroWriter{cw, out}), mpb.WithWidth(40)}, opts...)
	b.p = mpb.New(opts...)
	b.total = b.p.AddBar(b.size,
		mpb.PrependDecorators(decor.Name("total ", decor.WC{W: 24, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			sent, took := b.sentBytes.Load(), b.now().Sub(b.start)
			return " " + rate(sent, took) + " ETA " + eta(s.Total-s.Current, sent, took)
		}, decor.WC{W: 28, C: decor.DindentRight})))
	return b
}

// columnZeroWriter is mpb's console writer, but each frame starts at column 0. A frame is redrawn
// by moving the cursor up and erasing below it, which keeps the cursor's column: after the
// terminal echoed "^C" below the bars, the frame would start two columns in.
type columnZeroWriter struct {
	mpb.ConsoleWriter
	out io.Writer
}

func (w columnZeroWriter) Flush(lines int) error {
	if _, err := io.WriteString(w.out, "\r"); err != nil {
		return err
	}
	return w.ConsoleWriter.Flush(lines)
}

func (b *barProgress) started(path string, resumed, size int64) {
	name := filepath.Base(path)
	if len(name) > 22 {
		name = name[:21] + "…"
	}
	start := b.now()
	bar := b.p.AddBar(size, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 24, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			return " " + rate(s.Current-resumed, b.now().Sub(start))
		}, decor.WC{W: 14}), decor.Percentage(decor.WC{W: 6})))
	bar.SetCurrent(resumed)
	b.mu.Lock()
	b.bars[path] = bar
	if planned, ok := b.planned[path]; !ok || planned != size { // the file changed since the plan
		b.size += size - planned
		b.planned[path] = size
		b.total.SetTotal(b.size, false)
	}
	b.mu.Unlock()
	b.total.IncrInt64(resumed)
}

func (b *barProgress) sent(path string, n int64) {
	b.sentBytes.Add(n)
	b.mu.Lock()
	bar := b.bars[path]
	b.mu.Unlock()
	if bar != nil {
		bar.IncrInt64(n)
	}
	b.total.IncrInt64(n)
}

func (b *barProgress) ended(path string, ok bool) {
	b.mu.Lock()
	bar := b.bars[path]
	delete(b.bars, path)
	b.failed = b.failed || !ok
	b.mu.Unlock()
	switch {
	case bar == nil:
	case ok:
		bar.SetTotal(-1, true) // an empty file's bar completes too
	default:
		bar.Abort(true)
	}
}

func (b *barProgress) finish() {
	b.mu.Lock()
	for _, bar := range b.bars {
		bar.Abort(true)
	}
	failed := b.failed || len(b.bars) > 0
	b.mu.Unlock()
	if failed {
		b.total.Abort(false) // shown where it stopped
	} else {
		b.total.SetTotal(-1, true)
	}
	b.p.Wait()
}

// rate is how fast n bytes went in d, in binary units per second.
func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "- B/s"
	}
	return humanBytes(int64(float64(n)/d.Seconds())) + "/s"
}

// eta is how long the rest takes at the pace sent bytes took so far.
func eta(rest, sent int64, took time.Duration) string {
	if sent <= 0 || took <= 0 {
		return "-"
	}
	return time.Duration(float64(rest) / float64(sent) * float64(took)).Round(time.Second).String()
}
