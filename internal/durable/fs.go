package durable

import (
	"os"
	"strconv"
)

// filesystems shares SyncFS between every caller in the process: the blob store's objects and
// the database's commits on one filesystem wait for the same flushes.
var filesystems Shared

// SyncFS makes durable everything written to the filesystem that holds path before the call: file
// data, new and renamed names, sizes. It shares one syncfs(2) between the callers of the moment
// (see Shared), which is what makes it cheaper than an fsync of each file and of its directory.
// It returns ErrUnsupported where the OS has no syncfs; see FSSupported.
func SyncFS(path string) error {
	p, err := MarkFS(path)
	if err != nil {
		return err
	}
	return p.Wait()
}

// Pending is what was written to a filesystem before MarkFS: Wait makes it durable. Between the
// two, a caller does other work while the flushes of the moment run.
type Pending struct {
	path string // on the filesystem, for the syncfs a Wait may have to lead
	dev  string // the filesystem's key in filesystems
	mark uint64
}

// MarkFS marks what has been written to the filesystem of path so far.
func MarkFS(path string) (Pending, error) {
	dev, err := device(path)
	if err != nil {
		return Pending{}, err
	}
	key := strconv.FormatUint(dev, 10)
	return Pending{path: path, dev: key, mark: filesystems.Mark(key)}, nil
}

// Wait returns once a syncfs of the filesystem that began after MarkFS has succeeded, leading one
// if none has begun since.
func (p Pending) Wait() error {
	return filesystems.After(p.dev, p.mark, func() error { return syncFilesystem(p.path) })
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
