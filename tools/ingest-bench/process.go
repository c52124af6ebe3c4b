package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// startTimeout bounds how long a server may take to say where it listens.
	startTimeout = 30 * time.Second
	// stopTimeout is how long a server may take to stop after SIGTERM before it is killed.
	stopTimeout = 15 * time.Second
)

// process is a server the bench started. Its standard output and error go to a log file; until
// the server has started, their lines are also handed to whoever waits for the start.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string

	startup  chan string // output lines, while starting
	starting atomic.Bool

	done    chan struct{} // closed once the process has exited
	waitErr error         // its exit status, once done
}

// startProcess starts path with args, logging its output to logPath.
func startProcess(name, logPath, path string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, startup: make(chan string, 256), done: make(chan struct{})}
	p.starting.Store(true)
	log := &lockedWriter{w: logFile}
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Go(func() { p.pump(r, log) })
	}
	go func() {
		// Wait only after the pipes are drained, as exec.Cmd requires.
		readers.Wait()
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pump copies the lines of r to log, and to the startup channel while the process starts.
// Secrets (the admin token) are not written to the log.
func (p *process) pump(r io.Reader, log io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		logged := line
		if strings.HasPrefix(line, adminTokenPrefix) {
			logged = adminTokenPrefix + "<redacted>"
		}
		fmt.Fprintln(log, logged)
		if p.starting.Load() {
			select {
			case p.startup <- line:
			default: // nobody reads that many start lines; the log has them
			}
		}
	}
	// A line too long for the scanner: keep draining, or the process would block on its pipe.
	_, _ = io.Copy(log, r)
}

// awaitStart hands each output line to found until it reports that the process has started. It
// fails when the process exits first, ctx ends or startTimeout passes.
func (p *process) awaitStart(ctx context.Context, found func(line string) bool) error {
	defer p.starting.Store(false)
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	for {
		select {
		case line := <-p.startup:
			if found(line) {
				return nil
			}
		case <-p.done:
			return fmt.Errorf("%s exited while starting (%v); its log: %s%s", p.name, p.waitErr, p.logPath, p.logTail())
		case <-timer.C:
			return fmt.Errorf("%s did not start within %s; its log: %s%s", p.name, startTimeout, p.logPath, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logTail returns the last lines of the log, indented, for an error message.
func (p *process) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-10):]
	return "\n    " + strings.Join(lines, "\n    ")
}

// pid is the process id, for /proc.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and why.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop asks the process to stop (SIGTERM), kills it if it does not within stopTimeout, and waits
// for it. It returns an error when the process had already died or did not stop cleanly.
func (p *process) stop() error {
	if done, err := p.exited(); done {
		return fmt.Errorf("%s had exited before it was stopped (%v); its log: %s", p.name, err, p.logPath)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed; its log: %s", p.name, stopTimeout, p.logPath)
	}
	if p.waitErr != nil {
		return fmt.Errorf("%s stopped with %v; its log: %s", p.name, p.waitErr, p.logPath)
	}
	return nil
}

// kill ends the process at once, if it still runs, and waits for it.
func (p *process) kill() {
	if done, _ := p.exited(); done {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// lockedWriter serialises writes from the two output pumps.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// urlField returns the value of "url=…" in a log line, or "".
func urlField(line string) string {
	for field := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(field, "url="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
