package durable

import (
	"os"
	"strconv"
)

// filesystems shares the flushes of every FS in the process: the blob store's objects, the
// database's commits and the event log on one filesystem wait for the same flushes.
var filesystems Shared

// FS is the filesystem that holds a path, resolved once (FSOf) so that the writes of the hot path
// mark and flush it without looking it up again.
type FS struct {
	path string // on the filesystem, for the syncfs a Wait may have to lead
	key  string // the filesystem's key in filesystems: its device number
}

// FSOf returns the filesystem that holds path. It returns ErrUnsupported where the OS has no
// syncfs; see FSSupported.
func FSOf(path string) (FS, error) {
	dev, err := device(path)
	if err != nil {
		return FS{}, err
	}
	return FS{path: path, key: strconv.FormatUint(dev, 10)}, nil
}

// Sync makes durable everything written to the filesystem before the call: file data, new and
// renamed names, sizes. It shares one syncfs(2) between the callers of the moment (see Shared),
// which is what makes it cheaper than an fsync of each file and of its directory.
func (fs FS) Sync() error { return fs.Mark().Wait() }

// Mark marks what has been written to the filesystem so far: Wait on the result makes it durable.
func (fs FS) Mark() Pending { return Pending{fs: fs, mark: filesystems.Mark(fs.key)} }

// Pending is what was written to a filesystem before FS.Mark: Wait makes it durable. Between the
// two, a caller does other work while the flushes of the moment run.
type Pending struct {
	fs   FS
	mark uint64
}

// Wait returns once a syncfs of the filesystem that began after Mark has succeeded, leading one
// if none has begun since.
func (p Pending) Wait() error {
	return filesystems.After(p.fs.key, p.mark, func() error { return syncFilesystem(p.fs.path) })
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
