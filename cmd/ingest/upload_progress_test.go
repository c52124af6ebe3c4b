package main

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"

	"github.com/ingest-portal/ingest/storetest"
)

// screen is a terminal's screen, as far as the progress bars drive it: text, "\r", "\n", cursor up
// (ESC [ n A) and erase below (ESC [ J).
type screen struct {
	mu       sync.Mutex
	lines    [][]rune
	row, col int
}

var cursorUp = regexp.MustCompile(`^\x1b\[(\d+)A`)

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for text := string(p); text != ""; {
		if m := cursorUp.FindStringSubmatch(text); m != nil {
			n, _ := strconv.Atoi(m[1])
			s.row = max(s.row-n, 0)
			text = text[len(m[0]):]
			continue
		}
		if rest, ok := strings.CutPrefix(text, "\x1b[J"); ok {
			s.line()
			s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
			s.lines = s.lines[:s.row+1]
			text = rest
			continue
		}
		r := []rune(text)[0]
		text = text[len(string(r)):]
		switch r {
		case '\r':
			s.col = 0
		case '\n':
			s.row, s.col = s.row+1, 0
		default:
			s.line()
			for len(s.lines[s.row]) <= s.col {
				s.lines[s.row] = append(s.lines[s.row], ' ')
			}
			s.lines[s.row][s.col] = r
			s.col++
		}
	}
	return len(p), nil
}

// line makes the cursor's line exist.
func (s *screen) line() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

// String is the screen's lines that hold something.
func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, l := range s.lines {
		if t := strings.TrimRight(string(l), " "); t != "" {
			b.WriteString(t + "\n")
		}
	}
	return b.String()
}

// fakeTerminal is the console writer of a terminal showing screen, 100 columns wide; flushed
// tells of each frame drawn.
type fakeTerminal struct {
	*cupwriter.Writer
	flushed chan struct{}
}

func newFakeTerminal(s *screen) *fakeTerminal {
	return &fakeTerminal{Writer: cupwriter.New(s, true), flushed: make(chan struct{}, 100)}
}

func (t *fakeTerminal) IsTerminal() bool { return true }

func (t *fakeTerminal) GetTermSize() (int, int, error) { return 100, 40, nil }

func (t *fakeTerminal) Flush(lines int) error {
	defer func() {
		select {
		case t.flushed <- struct{}{}:
		default: // the frames drawn as the bars end, which no test waits for
		}
	}()
	return t.Writer.Flush(lines)
}

// barRig drives the bars on a fake terminal, drawing a frame when the test says.
type barRig struct {
	screen screen
	term   *fakeTerminal
	clock  *storetest.Clock
	redraw chan any
	bars   *barProgress
}

func newBarRig(planned map[string]int64) *barRig {
	r := &barRig{clock: storetest.NewClock(), redraw: make(chan any)}
	r.term = newFakeTerminal(&r.screen)
	r.bars = newBarProgress(&r.screen, r.term, planned, r.clock.Now, mpb.WithManualRefresh(r.redraw))
	return r
}

// draw draws a frame and returns the screen.
func (r *barRig) draw() string {
	r.redraw <- nil
	<-r.term.flushed
	return r.screen.String()
}

const mib = 1 << 20

func TestTheTotalBarKnowsTheWholeSizeBeforeAFileStarts(t *testing.T) {
	t.Parallel()
	r := newBarRig(map[string]int64{"/d/a.bin": 8 * mib, "/d/b.bin": 4 * mib})
	if got := r.draw(); !strings.Contains(got, "0 b / 12.0 MiB") {
		t.Errorf("before any file started the screen shows:\n%s\nwant a total of 12.0 MiB", got)
	}
	r.bars.finish()
}

// TestAnInterruptLeavesTheBarsClean: ^C mid-upload, which the terminal echoes below the bars,
// leaves the total where it stopped (not at 100 %), on lines that start at column 0, with the rate
// of the bytes this run sent in MiB/s: those the server already had are no speed.
func TestAnInterruptLeavesTheBarsClean(t *testing.T) {
	t.Parallel()
	r := newBarRig(map[string]int64{"/d/a.bin": 8 * mib, "/d/b.bin": 4 * mib})
	r.bars.started("/d/a.bin", 4*mib, 8*mib) // half of it resumed
	r.clock.Advance(time.Second)
	r.bars.sent("/d/a.bin", 2*mib)
	mid := r.draw()
	for _, want := range []string{"a.bin", "6.0 MiB / 8.0 MiB", "2.0 MiB/s", "total", "6.0 MiB / 12.0 MiB"} {
		if !strings.Contains(mid, want) {
			t.Errorf("mid-upload the screen does not show %q:\n%s", want, mid)
		}
	}
	if strings.Contains(mid, "6.0 MiB/s") {
		t.Errorf("the rate counts the resumed bytes:\n%s", mid)
	}

	if _, err := r.screen.Write([]byte("^C")); err != nil { // the terminal's echo of the interrupt
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(r.draw(), "\n"), "\n") {
		if !strings.HasPrefix(l, "a.bin ") && !strings.HasPrefix(l, "total ") {
			t.Errorf("the frame after the echoed ^C has the line %q, not from column 0", l)
		}
	}
	r.bars.ended("/d/a.bin", false)
	r.bars.finish()
	got := r.screen.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "total ") {
		t.Errorf("after the interrupt the screen is:\n%q\nwant the total's line alone, from column 0", got)
	}
	if !strings.Contains(got, "6.0 MiB / 12.0 MiB") || strings.Contains(got, "100") {
		t.Errorf("after the interrupt the total is:\n%s\nwant it left at 6.0 MiB / 12.0 MiB", got)
	}
	if !strings.Contains(got, "2.0 MiB/s") {
		t.Errorf("the total's rate is not 2.0 MiB/s:\n%s", got)
	}
}

func TestTheTotalCompletesWhenEveryFileIsStored(t *testing.T) {
	t.Parallel()
	r := newBarRig(map[string]int64{"/d/a.bin": 2 * mib})
	r.bars.started("/d/a.bin", 0, 2*mib)
	r.clock.Advance(time.Second)
	r.bars.sent("/d/a.bin", 2*mib)
	r.bars.ended("/d/a.bin", true)
	r.bars.finish()
	if got := r.screen.String(); !strings.Contains(got, "2.0 MiB / 2.0 MiB") {
		t.Errorf("after every file was stored the screen is:\n%s\nwant the total complete", got)
	}
}
