// Package filesink is the portal's default outbox sink: a JSONL file that holds one structured
// CloudEvent per line, appended and fsynced before an event counts as delivered.
package filesink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
)

// The permissions of what Open creates. Events name files and their uploaders, so the log is
// not readable by everyone on the machine.
const (
	dirMode  os.FileMode = 0o750
	fileMode os.FileMode = 0o640
)

// Sink appends events to a JSONL file. It is safe for concurrent use, and several processes may
// share one file (a server and an "ingest relay" on one data directory): Sends take turns, within
// the process and, by an advisory lock on the file, across processes, so the lines of two batches
// never interleave and no repair cuts another writer's line.
type Sink struct {
	path   string
	source string
	// turn holds the file while one Send or Close uses it. A channel rather than a mutex lets a
	// Send waiting for its turn give up when its context ends.
	turn   chan struct{}
	f      *os.File
	closed bool
	// flusher makes an append durable (WithFlusher); volume is its flushes of the file.
	flusher *durable.Flusher
	volume  durable.Volume
}

// Option configures a Sink.
type Option func(*Sink)

// WithFlusher sets how an append is made durable (a flusher of its own, of durable.DefaultMode, if
// not given): an fsync of the file (durable.Files), or a syncfs(2) of its filesystem shared with
// the other writes of the moment that have the same flusher, the portal's database commits and
// objects among them (durable.Filesystem), which spares the device a flush of its own for every
// batch.
func WithFlusher(f *durable.Flusher) Option {
	return func(s *Sink) { s.flusher = f }
}

var _ ingest.Sink = (*Sink)(nil)

// Open opens the JSONL file at path for appending, creating it and its directory if needed, and
// returns a Sink that writes the events' CloudEvents with the given source (ingest's default when
// empty).
//
// A crash in the middle of an append can leave a last line without its newline. That line's
// events were never acknowledged (Send returns only after the fsync that follows the whole
// batch), so the relay sends them again; the sink cuts the torn line off, on Open and before each
// append, so that the next line starts clean and every line of the file is a whole JSON document.
func Open(path, source string, opts ...Option) (*Sink, error) {
	if path == "" {
		return nil, ingest.Errorf(ingest.EValidation, "the events file needs a path")
	}
	s := &Sink{path: path, source: source, turn: make(chan struct{}, 1), flusher: durable.Default()}
	for _, o := range opts {
		o(s)
	}
	if source == "" {
		s.source = ingest.DefaultEventSource
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create the events directory: %w", err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open the events file: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// The new file's name must survive a power cut along with the lines written into it.
		if err := durable.SyncDir(dir); err != nil {
			err = fmt.Errorf("sync the events directory: %w", err)
			f.Close()
			return nil, err
		}
	}
	s.f = f
	if s.volume, err = s.flusher.Volume(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("open the events file: %w", err)
	}
	if err := s.locked(s.repair); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Name implements ingest.Sink.
func (s *Sink) Name() string { return "file" }

// Path returns the file the sink appends to.
func (s *Sink) Path() string { return s.path }

// Send implements ingest.Sink. It writes the whole batch with one write and one fsync, which is
// what makes a file sink fast: the fsync, not the write, is the cost of a delivery. An event that
// cannot be encoded fails permanently on its own; a failed write or fsync fails every event of
// the batch, since none of them is known to be durable.
func (s *Sink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	errs := make([]error, len(events))
	// Encoded before taking the turn, so that concurrent Sends encode in parallel.
	var buf bytes.Buffer
	for i, e := range events {
		line, err := json.Marshal(ingest.NewCloudEvent(e, s.source))
		if err != nil {
			errs[i] = &ingest.DeliveryError{Permanent: true, Err: fmt.Errorf("encode event %s: %w", e.EventID, err)}
			continue
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	var err error
	if err = s.acquire(ctx); err == nil {
		defer s.release()
		switch {
		case s.closed:
			err = fmt.Errorf("events file %s: %w", s.path, os.ErrClosed)
		case buf.Len() > 0:
			err = s.append(buf.Bytes())
		}
	}
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// append writes lines at the end of the file and syncs them.
func (s *Sink) append(lines []byte) error {
	return s.locked(func() error {
		if err := s.repair(); err != nil {
			return err
		}
		if _, err := s.f.Write(lines); err != nil {
			// The next append cuts off whatever part of the lines was written.
			return fmt.Errorf("append to the events file: %w", err)
		}
		if err := s.volume.SyncFile(s.f); err != nil {
			return fmt.Errorf("sync the events file: %w", err)
		}
		return nil
	})
}

// locked runs do holding the file's advisory lock.
func (s *Sink) locked(do func() error) error {
	if err := lockFile(s.f); err != nil {
		return fmt.Errorf("lock the events file: %w", err)
	}
	err := do()
	if uerr := unlockFile(s.f); err == nil && uerr != nil {
		err = fmt.Errorf("unlock the events file: %w", uerr)
	}
	return err
}

// repair cuts off whatever follows the file's last newline: a line torn by a crash, or the part
// of a batch whose write failed. Checking costs one read of the last byte.
func (s *Sink) repair() error {
	end, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("seek the events file: %w", err)
	}
	if end == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := s.f.ReadAt(last, end-1); err != nil {
		return fmt.Errorf("read the events file: %w", err)
	}
	if last[0] == '\n' {
		return nil
	}
	size, err := completeLines(s.f, end)
	if err != nil {
		return fmt.Errorf("read the events file: %w", err)
	}
	if err := s.f.Truncate(size); err != nil {
		return fmt.Errorf("cut the torn tail of the events file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync the events file: %w", err)
	}
	return nil
}

// Close implements ingest.Sink. It waits for a Send in progress to finish.
func (s *Sink) Close() error {
	s.turn <- struct{}{}
	defer s.release()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}

// acquire waits for the sink's turn, or for ctx to end.
func (s *Sink) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) release() { <-s.turn }

// completeLines returns the length of f, whose size is end, up to and including its last newline.
func completeLines(f *os.File, end int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for off := end; off > 0; {
		n := int64(len(buf))
		if off < n {
			n = off
		}
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
	}
	return 0, nil
}
