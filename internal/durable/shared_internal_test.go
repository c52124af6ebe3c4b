package durable

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFlushesAreShared: callers that arrive while a flush runs wait for it and share the next
// one; each returns only after a flush that began after its call.
func TestFlushesAreShared(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var flushCount int
	var arrivedBefore []int // for each flush, how many callers had arrived when it began
	var arrived int
	var s Shared
	flush := func() error {
		mu.Lock()
		flushCount++
		arrivedBefore = append(arrivedBefore, arrived)
		first := flushCount == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	}
	call := func() error {
		mu.Lock()
		arrived++
		mu.Unlock()
		return s.Do("dir", flush)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	wg.Go(func() { errs[0] = call() })
	awaitState(t, &s, func(f *flushes) bool { return f.running })
	for i := 1; i < len(errs); i++ {
		wg.Go(func() { errs[i] = call() })
	}
	awaitState(t, &s, func(f *flushes) bool { return f.waiting == len(errs)-1 })
	close(release)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if flushCount != 2 {
		t.Errorf("%d callers made %d flushes, want 2: the first, and one for all who came during it", len(errs), flushCount)
	}
	if flushCount == 2 && arrivedBefore[1] != len(errs) {
		t.Errorf("the second flush began when %d callers had arrived, want all %d", arrivedBefore[1], len(errs))
	}
}

// TestAFailedFlushReachesWhomItCovered: a failed flush fails the callers who needed it.
func TestAFailedFlushReachesWhomItCovered(t *testing.T) {
	failure := errors.New("disk gone")
	var s Shared
	if err := s.Do("dir", func() error { return failure }); !errors.Is(err, failure) {
		t.Errorf("Do with a failing flush = %v, want %v", err, failure)
	}
	if err := s.Do("dir", func() error { return nil }); err != nil {
		t.Errorf("a later Do whose flush succeeds = %v", err)
	}
}

// TestFilesystemSync runs the real syncfs(2) where there is one, and refuses the mode elsewhere.
func TestFilesystemSync(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := New(Filesystem)
	if !FSSupported {
		if err == nil {
			t.Error("New(Filesystem) without syncfs(2) succeeded")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Volume(dir)
	if err == nil {
		err = v.SharedFlush()()
	}
	if err != nil {
		t.Errorf("the shared flush = %v", err)
	}
	if _, err := f.Volume(filepath.Join(dir, "missing")); err == nil {
		t.Error("the volume of a missing path was found")
	}
}

// awaitState waits until the state of the key "dir" satisfies ok.
func awaitState(t *testing.T, s *Shared, ok func(*flushes) bool) {
	t.Helper()
	for {
		if v, found := s.flushes.Load("dir"); found {
			f := v.(*flushes)
			f.mu.Lock()
			done := ok(f)
			f.mu.Unlock()
			if done {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParseMode(t *testing.T) {
	if m, err := ParseMode(""); err != nil || m != DefaultMode() {
		t.Errorf(`ParseMode("") = %q, %v; want the default %q`, m, err, DefaultMode())
	}
	if m, err := ParseMode("file"); err != nil || m != Files {
		t.Errorf(`ParseMode("file") = %q, %v`, m, err)
	}
	if _, err := ParseMode("filesystem"); (err == nil) != FSSupported {
		t.Errorf(`ParseMode("filesystem") = %v with FSSupported %v`, err, FSSupported)
	}
	if _, err := ParseMode("fsync"); err == nil {
		t.Error(`ParseMode("fsync") succeeded`)
	}
}

// TestAfterUsesAFlushBegunSinceTheMark: a flush that began after a Mark covers it, so After leads
// no flush of its own; one that began before it does not.
func TestAfterUsesAFlushBegunSinceTheMark(t *testing.T) {
	var s Shared
	flushes := 0
	flush := func() error { flushes++; return nil }
	mark := s.Mark("fs")
	if err := s.Do("fs", flush); err != nil { // begins after mark
		t.Fatal(err)
	}
	if err := s.After("fs", mark, flush); err != nil || flushes != 1 {
		t.Errorf("After a mark that a later flush covered: %v, %d flushes; want nil and 1", err, flushes)
	}
	if err := s.After("fs", s.Mark("fs"), flush); err != nil || flushes != 2 {
		t.Errorf("After a fresh mark: %v, %d flushes; want nil and 2", err, flushes)
	}
}
