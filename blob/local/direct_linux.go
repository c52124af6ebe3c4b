package local

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens path for reads (os.O_RDONLY) or writes (os.O_WRONLY) that bypass the page
// cache (O_DIRECT), or returns nil where the filesystem refuses them.
func openDirect(path string, flag int) *os.File {
	f, err := os.OpenFile(path, flag|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

// directRefused reports whether a direct read or write failed because the filesystem cannot take it as it
// is (alignment, or no O_DIRECT at all), so that the same bytes may be written through the page
// cache instead.
func directRefused(err error) bool { return errors.Is(err, unix.EINVAL) }
