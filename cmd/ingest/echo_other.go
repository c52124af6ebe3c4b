//go:build !linux

package main

import "os"

// isTerminal reports false off Linux: the password is then read as a line of standard input,
// which a terminal echoes. Pipe it in (ingest user set-password NAME < file) to keep it unseen.
func isTerminal(*os.File) bool { return false }

func readHiddenLine(*os.File) (string, error) { return "", nil }
