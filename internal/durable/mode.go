package durable

import (
	"fmt"
	"runtime"
)

// Mode is how the portal makes its writes durable on local disk: the database's commits and the
// local blob store's objects. Parts of multi-part uploads are always fsynced one by one: each is
// large, and its own flush costs nothing next to its bytes.
type Mode string

const (
	// Filesystem makes writes durable with one syncfs(2) of their filesystem, shared by every
	// object and SQLite commit written at the moment (see Flusher). The fewest flushes; but a flush
	// also waits for whatever else is dirty on that filesystem, so give the data directory a
	// filesystem of its own when other programs write much to it. Linux only.
	Filesystem Mode = "filesystem"
	// Files fsyncs each object and its directory, and SQLite's WAL in each commit
	// (synchronous=FULL): one flush per object, shared only between objects of one directory.
	Files Mode = "file"
)

// DefaultMode is Filesystem where syncfs(2) exists, Files elsewhere.
func DefaultMode() Mode {
	if FSSupported {
		return Filesystem
	}
	return Files
}

// Modes returns the modes this OS has, any of which can be chosen (and be the default).
func Modes() []Mode {
	if FSSupported {
		return []Mode{Files, Filesystem}
	}
	return []Mode{Files}
}

// ParseMode reads a Mode; "" is DefaultMode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return DefaultMode(), nil
	case Files:
		return m, nil
	case Filesystem:
		if !FSSupported {
			return "", fmt.Errorf("flush mode %q needs syncfs(2), which %s does not have; use %q", m, runtime.GOOS, Files)
		}
		return m, nil
	}
	return "", fmt.Errorf("unknown flush mode %q: use %q or %q", s, Filesystem, Files)
}
