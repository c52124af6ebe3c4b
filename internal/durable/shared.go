// Package durable shares the flushes that make writes durable between the goroutines that need
// them at the same moment. A flush covers everything written before it began, however many
// writers that is, and on this kind of machine the device runs its cache flushes one at a time:
// so a writer that finds a flush of its kind in progress waits for it to end and then for the
// next one, which a single waiter starts for all who came meanwhile. With 16 small uploads in
// flight that is a handful of flushes instead of 16.
//
// A Flusher, built once per process for its --flush Mode and handed to every store that writes to
// local disk, holds those shared flushes: the package itself keeps no state.
package durable

import "sync"

// Shared runs flushes for any number of keys (a directory, a filesystem), one at a time per key.
// The zero value is ready to use.
type Shared struct {
	flushes sync.Map // key → *flushes
}

// flushes is the state of one key's flushes. started and done count them; a caller that arrives
// when started is n needs flush n+1 to have completed (the flush in progress, if any, may have
// begun before the caller's write).
type flushes struct {
	mu         sync.Mutex
	cond       *sync.Cond
	started    uint64
	done       uint64
	running    bool
	waiting    int    // callers waiting for a flush to end
	lastFailed uint64 // the number of the latest flush that failed, 0 if none
	lastErr    error
}

// Do returns once a flush of key that began after the call has succeeded, or with the error of
// one that failed. flush is the caller's way to flush key; the caller that leads a flush runs its
// own, so every caller's must do the same thing.
func (s *Shared) Do(key string, flush func() error) error {
	return s.After(key, s.Mark(key), flush)
}

// Mark returns how many flushes of key have begun: a flush that begins later covers what was
// written before the call. See After.
func (s *Shared) Mark(key string) uint64 {
	f := s.get(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

// After returns once a flush of key that began after mark (a Mark of key) has succeeded, leading
// one if none has begun since, or with the error of one that failed. Between Mark and After the
// caller may do other work while other callers' flushes make its writes durable.
func (s *Shared) After(key string, mark uint64, flush func() error) error {
	return s.get(key).do(mark+1, flush)
}

func (s *Shared) get(key string) *flushes {
	v, ok := s.flushes.Load(key)
	if !ok {
		f := &flushes{}
		f.cond = sync.NewCond(&f.mu)
		v, _ = s.flushes.LoadOrStore(key, f)
	}
	return v.(*flushes)
}

// do waits until flush number need has completed, leading flushes while none runs.
func (f *flushes) do(need uint64, flush func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.done < need {
		if f.running {
			f.waiting++
			f.cond.Wait()
			f.waiting--
			continue
		}
		f.running = true
		f.started++
		n := f.started
		f.mu.Unlock()
		err := flush()
		f.mu.Lock()
		f.running = false
		f.done = n
		if err != nil {
			f.lastFailed, f.lastErr = n, err
		}
		f.cond.Broadcast()
	}
	// Any failure of a flush that began after the call may have lost this caller's write, even if
	// a later one succeeded: report it.
	if f.lastFailed >= need {
		return f.lastErr
	}
	return nil
}
