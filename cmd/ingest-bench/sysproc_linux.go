package main

import (
	"os"
	"syscall"
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
