package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// terminalCLI is "ingest args…" running on a pseudo-terminal of 100 columns, as under a person's
// shell: the terminal is its controlling one, so ^C typed on it is echoed and sends SIGINT.
type terminalCLI struct {
	p      *cliProcess
	master *os.File
	screen screen
	closed chan struct{} // the terminal's output is all on the screen
}

func startOnTerminal(t *testing.T, bin string, env []string, args ...string) *terminalCLI {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close() // the command has its own copies
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}

	term := &terminalCLI{master: master, closed: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	term.p = &cliProcess{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(term.p.done) }()
	go func() {
		defer close(term.closed)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			_, _ = term.screen.Write(buf[:n])
			if err != nil { // EIO once the command and its copies of the terminal are gone
				return
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-term.p.done })
	return term
}

// counters reads a bar's "done / size".
var counters = regexp.MustCompile(`([0-9.]+ [KMG]?i?B) / ([0-9.]+ [KMG]?i?B)`)

// typ types keys on the terminal.
func (term *terminalCLI) typ(t *testing.T, keys string) {
	t.Helper()
	if _, err := term.master.WriteString(keys); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Fatal(err)
	}
}

// TestAnInterruptOnATerminalLeavesItClean: ^C typed on the terminal of an upload exits 130 and
// leaves a clean screen: the total's bar where the upload stopped, in MiB/s, no line shifted by
// the echoed ^C.
func TestAnInterruptOnATerminalLeavesItClean(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		path := filepath.Join(t.TempDir(), "big.bin")
		writeFile(t, path, randomBytes(bigUploadSize))
		term := startOnTerminal(t, bin, cliEnv(r), "upload", "--chunk-size", bigUploadChunk, "--parallel", "1", path)
		awaitReceived(r, 1<<20, term.p)
		term.typ(t, "\x03")
		<-term.p.done
		<-term.closed
		got := term.screen.String()
		if code := term.p.cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("the upload interrupted by ^C exited %d, want 130:\n%s", code, got)
		}
		var total string
		for _, l := range strings.Split(got, "\n") {
			if strings.Contains(l, "total") {
				total = l
			}
			if strings.Contains(l, "^C") {
				t.Errorf("the echoed ^C stays on the screen, in %q", l)
			}
		}
		if !strings.HasPrefix(total, "total ") {
			t.Errorf("the total's line is %q, not from column 0:\n%s", total, got)
		}
		if m := counters.FindStringSubmatch(total); m == nil || m[1] == m[2] || m[2] != humanBytes(bigUploadSize) {
			t.Errorf("the interrupted upload's total reads %q, want part of %s", total, humanBytes(bigUploadSize))
		}
		if !regexp.MustCompile(`[0-9.]+ [KMG]iB/s`).MatchString(total) {
			t.Errorf("the total's rate is not in MiB/s (or KiB/s, GiB/s): %q", total)
		}
	})
}
