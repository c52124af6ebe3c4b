//go:build !linux

package durable

import (
	"errors"
	"os"
)

// FSSupported says whether the Filesystem mode works here: syncfs(2) is Linux's. Elsewhere the Files
// mode fsyncs each file and directory.
const FSSupported = false

func device(string) (uint64, error) { return 0, errors.ErrUnsupported }

func syncFilesystem(string) error { return errors.ErrUnsupported }

// Fdatasync falls back to a full fsync where there is no fdatasync, so that the stores still
// build, and stay durable, on a developer's machine.
func Fdatasync(f *os.File) error { return f.Sync() }
