package local

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestDirSyncIsShared: callers that arrive while a directory fsync runs wait for it and share
// the next one; each returns only after an fsync that began after its call.
func TestDirSyncIsShared(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var fsyncs int
	var arrivedBefore []int // for each fsync, how many callers had arrived when it began
	var arrived int
	d := &dirSyncer{fsync: func(string) error {
		mu.Lock()
		fsyncs++
		arrivedBefore = append(arrivedBefore, arrived)
		first := fsyncs == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	}}
	call := func() error {
		mu.Lock()
		arrived++
		mu.Unlock()
		return d.sync("dir")
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	wg.Go(func() { errs[0] = call() })
	awaitState(t, d, func(s *dirSync) bool { return s.running })
	for i := 1; i < len(errs); i++ {
		wg.Go(func() { errs[i] = call() })
	}
	awaitState(t, d, func(s *dirSync) bool { return s.waiting == len(errs)-1 })
	close(release)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if fsyncs != 2 {
		t.Errorf("%d callers made %d fsyncs, want 2: the first, and one for all who came during it", len(errs), fsyncs)
	}
	if fsyncs == 2 && arrivedBefore[1] != len(errs) {
		t.Errorf("the second fsync began when %d callers had arrived, want all %d", arrivedBefore[1], len(errs))
	}
}

// TestDirSyncFailureReachesWhomItCovered: a failed fsync fails the callers who needed it.
func TestDirSyncFailureReachesWhomItCovered(t *testing.T) {
	failure := errors.New("disk gone")
	fail := true
	d := &dirSyncer{fsync: func(string) error {
		if fail {
			return failure
		}
		return nil
	}}
	if err := d.sync("dir"); !errors.Is(err, failure) {
		t.Errorf("sync with a failing fsync = %v, want %v", err, failure)
	}
	fail = false
	if err := d.sync("dir"); err != nil {
		t.Errorf("a later sync whose fsync succeeds = %v", err)
	}
}

// awaitState waits until the state of the directory "dir" satisfies ok.
func awaitState(t *testing.T, d *dirSyncer, ok func(*dirSync) bool) {
	t.Helper()
	for {
		if v, found := d.syncs.Load("dir"); found {
			s := v.(*dirSync)
			s.mu.Lock()
			done := ok(s)
			s.mu.Unlock()
			if done {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}
