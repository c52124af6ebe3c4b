//go:build !linux

package main

import (
	"bufio"
	"os"
	"strings"
)

// readHiddenLine reads one line from the terminal f. Off Linux the terminal's echo is left on, so
// the password shows as it is typed: pipe it in (ingest user set-password NAME < file) to keep it
// unseen.
func readHiddenLine(f *os.File) (string, error) {
	line, err := bufio.NewReader(f).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
