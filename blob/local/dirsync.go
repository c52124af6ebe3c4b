package local

import "sync"

// dirSyncer shares directory fsyncs between concurrent callers. Many small objects put at once
// land in the same directory, and each must see its rename made durable; an fsync that starts
// after a caller's rename covers it, however many other renames it covers too. So a caller that
// finds an fsync of the directory in progress waits for it to end and then for the next one,
// which a single waiter starts for all of them: with 16 uploads in flight, a handful of fsyncs
// instead of 16.
type dirSyncer struct {
	syncs sync.Map               // directory → *dirSync
	fsync func(dir string) error // syncDir; tests replace it
}

// dirSync is the state of one directory's fsyncs. started and done count them; a caller that
// arrives when started is n needs fsync n+1 to have completed (the fsync in progress, if any,
// may have begun before its rename).
type dirSync struct {
	mu         sync.Mutex
	cond       *sync.Cond
	started    uint64
	done       uint64
	running    bool
	waiting    int    // callers waiting for an fsync to end
	lastFailed uint64 // the number of the latest fsync that failed, 0 if none
	lastErr    error
}

// sync makes the entries of dir durable as of the call: it returns once an fsync of dir that
// began after the call has succeeded, or with the error of one that failed.
func (d *dirSyncer) sync(dir string) error {
	v, ok := d.syncs.Load(dir)
	if !ok {
		ds := &dirSync{}
		ds.cond = sync.NewCond(&ds.mu)
		v, _ = d.syncs.LoadOrStore(dir, ds)
	}
	fsync := d.fsync
	if fsync == nil {
		fsync = syncDir
	}
	return v.(*dirSync).sync(dir, fsync)
}

func (s *dirSync) sync(dir string, fsync func(string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.started + 1
	for s.done < need {
		if s.running {
			s.waiting++
			s.cond.Wait()
			s.waiting--
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := fsync(dir)
		s.mu.Lock()
		s.running = false
		s.done = n
		if err != nil {
			s.lastFailed, s.lastErr = n, err
		}
		s.cond.Broadcast()
	}
	// Any failure of an fsync that began after the call may have lost this caller's entry, even
	// if a later one succeeded: report it.
	if s.lastFailed >= need {
		return s.lastErr
	}
	return nil
}
