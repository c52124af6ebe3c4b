package main

import "syscall"

// sysProcAttr makes a started server die with the bench, even if the bench is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
