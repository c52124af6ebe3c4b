//go:build !linux

package main

import (
	"os"
	"syscall"
)

// sysProcAttr is nil where there is no parent-death signal; the bench measures Linux only.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// maxRSS is 0 where the bench does not measure it.
func maxRSS(*os.ProcessState) int64 { return 0 }

// settle writes back every dirty page it can (sync(2)); see the Linux version.
func settle(string) error {
	syscall.Sync()
	return nil
}
