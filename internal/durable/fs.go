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
	dev, err := device(path)
	if err != nil {
		return err
	}
	return filesystems.Do(strconv.FormatUint(dev, 10), func() error { return syncFilesystem(path) })
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
