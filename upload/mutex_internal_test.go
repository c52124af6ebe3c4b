package upload

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestHandoffGoesRoundForARequestMadeMeanwhile: a request made while the work is in hand sends its
// worker round once more, and only once; then the key is free for the next caller.
func TestHandoffGoesRoundForARequestMadeMeanwhile(t *testing.T) {
	var h handoff[string]
	if !h.begin("a") {
		t.Fatal("the first caller was not given the work")
	}
	if !h.begin("b") {
		t.Fatal("another key's caller was not given its work")
	}
	for range 2 {
		if h.begin("a") {
			t.Fatal("a caller was given work already in hand")
		}
	}
	if !h.again("a") {
		t.Fatal("the worker was not sent round again for the requests made meanwhile")
	}
	if h.again("a") {
		t.Fatal("the worker was sent round again with no request since its last round")
	}
	if !h.begin("a") {
		t.Fatal("the key was not free once its worker was done")
	}
	if h.again("b") || h.again("a") {
		t.Fatal("a worker was sent round again with no request")
	}
	if len(h.state) != 0 {
		t.Errorf("keys still held after their work ended: %v", h.state)
	}
}

// TestHandoffLeavesNoWorkBehind has many callers ask for the work of one key at once: one works at
// a time, and every request made while it worked is covered by a round that began after it.
func TestHandoffLeavesNoWorkBehind(t *testing.T) {
	var h handoff[int]
	var requested, done atomic.Int64 // requests made, and the requests covered by the last round
	var working atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				requested.Add(1)
				if !h.begin(7) {
					continue
				}
				for {
					if working.Add(1) != 1 {
						t.Error("two callers work on one key at once")
					}
					done.Store(requested.Load()) // a round covers every request made before it began
					working.Add(-1)
					if !h.again(7) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if got, want := done.Load(), requested.Load(); got != want {
		t.Errorf("the last round covered %d requests of %d: work was left behind", got, want)
	}
	if len(h.state) != 0 {
		t.Errorf("the key is still held after the work ended: %v", h.state)
	}
}
