package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr makes a started server die with the bench, even if the bench is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// maxRSS is the peak resident memory of an ended process, from the kernel (ru_maxrss, in KiB on
// Linux), which no sampling interval can miss.
func maxRSS(state *os.ProcessState) int64 {
	if ru, ok := state.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10
	}
	return 0
}

// settle writes back every dirty page of the filesystem that holds dir (syncfs(2)), so that a
// measurement does not pay for the writeback of the one before it: tusd leaves what it stored in
// the page cache, and the next server's flushes would otherwise write it out.
func settle(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
