package durable

import (
	"os"
	"path/filepath"
	"strconv"
)

// Flusher makes the portal's writes to local disk durable in the way of one Mode. A process builds
// one (New) and hands it to every store that writes to local disk: in the filesystem mode, the
// objects, database commits and events written at one moment then share their flushes.
type Flusher struct {
	mode Mode
	// flushes are shared per filesystem ("dev:" and its device number) and per directory ("dir:"
	// and its path).
	flushes Shared
	// BeforeSyncfs, when set, is called before each syncfs(2) of the Filesystem mode begins, by the
	// goroutine about to run it; its error fails that flush. It is the seam where the power-cut
	// test (internal/testkit/powercut) learns that what was written so far is about to become
	// durable: Linux does not forward syncfs to a FUSE server, whereas the fsyncs of files and
	// directories reach it on their own, and are not told here, so that the test does not take a
	// directory's fsync for a flush of everything. The product leaves it nil.
	BeforeSyncfs func() error
}

// New returns a Flusher of mode m ("" is DefaultMode). See ParseMode for the modes it refuses.
func New(m Mode) (*Flusher, error) {
	m, err := ParseMode(string(m))
	if err != nil {
		return nil, err
	}
	return &Flusher{mode: m}, nil
}

// Default returns a new Flusher of DefaultMode, for a store given none, as in tests. Stores share
// their flushes only when they share a Flusher.
func Default() *Flusher { return &Flusher{mode: DefaultMode()} }

// Volume returns the flushes of the files under path, which must exist. The filesystem that holds
// path is looked up once, here, so that a write need not look it up again.
func (f *Flusher) Volume(path string) (Volume, error) {
	if f.mode == Files {
		return fileSyncs{f}, nil
	}
	dev, err := device(path)
	if err != nil {
		return nil, err
	}
	return &filesystemSyncs{flusher: f, path: path, key: "dev:" + strconv.FormatUint(dev, 10)}, nil
}

// Volume makes durable the writes to the files under one path, in the way of its Flusher's mode.
type Volume interface {
	// SyncFile makes everything written to f so far durable before it returns.
	SyncFile(f *os.File) error
	// CloseNew closes f, a file just created and written in full, and makes its bytes and its
	// name durable: before it returns (the Pending is nil), or once Wait on the Pending it returns
	// succeeds. Meanwhile the caller may do other work, which the flush of the moment then covers
	// too.
	CloseNew(f *os.File) (Pending, error)
	// SyncDir makes the entries of dir durable, sharing the fsync with the other callers of the
	// moment.
	SyncDir(dir string) error
	// SharedFlush returns the flush that makes durable everything written under the path before it
	// began, shared with the other writes of the moment; nil in a mode that has none, where each
	// writer flushes its own writes (SQLite: synchronous=FULL).
	SharedFlush() func() error
}

// Pending is a write waiting for its flush: Wait returns once it is durable, or with the error of
// a flush that may have lost it.
type Pending interface {
	Wait() error
}

// fileSyncs is the Files mode: an fsync of each file and of its directory. The fsyncs of one
// directory are shared between the files created in it at the moment.
type fileSyncs struct{ flusher *Flusher }

func (v fileSyncs) SyncFile(f *os.File) error { return f.Sync() }

func (v fileSyncs) CloseNew(f *os.File) (Pending, error) {
	if err := Fdatasync(f); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return nil, v.SyncDir(filepath.Dir(f.Name()))
}

func (v fileSyncs) SyncDir(dir string) error { return v.flusher.syncDir(dir) }

func (fileSyncs) SharedFlush() func() error { return nil }

// filesystemSyncs is the Filesystem mode: one syncfs(2) of the filesystem makes durable everything
// written to it before the flush began, file data and names alike, and serves every writer of the
// moment. It needs no flush per file.
type filesystemSyncs struct {
	flusher *Flusher
	path    string // on the filesystem, for the syncfs a Wait may have to lead
	key     string // the filesystem's key in the flusher's flushes
}

func (v *filesystemSyncs) SyncFile(*os.File) error { return v.sync() }

func (v *filesystemSyncs) CloseNew(f *os.File) (Pending, error) {
	if err := f.Close(); err != nil {
		return nil, err
	}
	return v.mark(), nil
}

func (v *filesystemSyncs) SyncDir(dir string) error { return v.flusher.syncDir(dir) }

func (v *filesystemSyncs) SharedFlush() func() error { return v.sync }

// sync makes everything written to the filesystem before the call durable.
func (v *filesystemSyncs) sync() error { return v.mark().Wait() }

// mark marks what has been written to the filesystem so far: Wait on the result makes it durable.
func (v *filesystemSyncs) mark() filesystemMark {
	return filesystemMark{v: v, n: v.flusher.flushes.Mark(v.key)}
}

// filesystemMark is what was written to a filesystem before a mark: Wait makes it durable.
type filesystemMark struct {
	v *filesystemSyncs
	n uint64
}

// Wait returns once a syncfs of the filesystem that began after the mark has succeeded, leading
// one if none has begun since.
func (m filesystemMark) Wait() error {
	return m.v.flusher.flushes.After(m.v.key, m.n, func() error {
		if before := m.v.flusher.BeforeSyncfs; before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		return syncFilesystem(m.v.path)
	})
}

// syncDir is SyncDir(dir), shared with the callers of the moment.
func (f *Flusher) syncDir(dir string) error {
	key := "dir:" + dir
	return f.flushes.After(key, f.flushes.Mark(key), func() error { return SyncDir(dir) })
}

// SyncDir makes the entries of dir durable: a new file or directory in it, a rename into it, a
// removal from it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return err
	}
	return d.Close()
}
