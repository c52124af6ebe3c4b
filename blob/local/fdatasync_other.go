//go:build !linux

package local

import "os"

// fdatasync falls back to a full fsync where package syscall has no fdatasync, so that the store
// still builds, and stays durable, on a developer's machine.
func fdatasync(f *os.File) error { return f.Sync() }
