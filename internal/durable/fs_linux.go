package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// FSSupported says whether the Filesystem mode works here.
const FSSupported = true

// device returns the id of the filesystem that holds path.
func device(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Dev, nil
}

// syncFilesystem runs syncfs(2) on the filesystem of path. Since Linux 5.8 it reports a failed
// writeback of any file of that filesystem, not only of files open through the descriptor.
func syncFilesystem(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return onFD(f, "syncfs", unix.Syncfs)
}

// Fdatasync flushes f's bytes and the metadata needed to read them back (block allocations, a
// size change), but not its times, which would cost a further metadata write for nothing.
func Fdatasync(f *os.File) error { return onFD(f, "fdatasync", unix.Fdatasync) }

// onFD runs call on f's descriptor, again while it is interrupted.
func onFD(f *os.File, op string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = call(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}
