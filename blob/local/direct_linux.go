package local

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens path for writes that bypass the page cache (O_DIRECT), or returns nil where the
// filesystem refuses them.
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

// directRefused reports whether a direct write failed because the filesystem cannot take it as it
// is (alignment, or no O_DIRECT at all), so that the same bytes may be written through the page
// cache instead.
func directRefused(err error) bool { return errors.Is(err, unix.EINVAL) }
