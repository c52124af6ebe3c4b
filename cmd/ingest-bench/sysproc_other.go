//go:build !linux

package main

import "syscall"

// sysProcAttr is nil where there is no parent-death signal; the bench measures Linux only.
func sysProcAttr() *syscall.SysProcAttr { return nil }
