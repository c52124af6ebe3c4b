package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"

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
func newUploadProgress(w io.Writer) uploadProgress {
	if isTerminal(w) {
		return newBarProgress(w)
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

// barProgress draws one bar per file being uploaded and one for the total: bytes, rate, ETA.
type barProgress struct {
	p     *mpb.Progress
	total *mpb.Bar

	mu    sync.Mutex
	bars  map[string]*mpb.Bar
	sizes int64 // the total bar's size so far: it grows as files start
}

func newBarProgress(w io.Writer) *barProgress {
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	total := p.AddBar(0,
		mpb.PrependDecorators(decor.Name("total ", decor.WC{W: 24, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WC{W: 14}),
			decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
	return &barProgress{p: p, total: total, bars: map[string]*mpb.Bar{}}
}

func (b *barProgress) started(path string, resumed, size int64) {
	name := filepath.Base(path)
	if len(name) > 22 {
		name = name[:21] + "…"
	}
	bar := b.p.AddBar(size, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 24, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WC{W: 14}), decor.Percentage(decor.WC{W: 6})))
	bar.SetCurrent(resumed)
	b.mu.Lock()
	b.bars[path] = bar
	b.sizes += size
	b.total.SetTotal(b.sizes, false)
	b.mu.Unlock()
	b.total.IncrInt64(resumed)
}

func (b *barProgress) sent(path string, n int64) {
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
	b.mu.Unlock()
	b.total.SetTotal(-1, true)
	b.p.Wait()
}
