//go:build !linux

package durable

import "errors"

// FSSupported says whether SyncFS works here: syncfs(2) is Linux's. Elsewhere the callers fsync
// each file and directory themselves.
const FSSupported = false

func device(string) (uint64, error) { return 0, errors.ErrUnsupported }

func syncFilesystem(string) error { return errors.ErrUnsupported }
