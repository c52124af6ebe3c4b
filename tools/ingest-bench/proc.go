package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on every Linux the bench
// runs on.
const clockTick = 10 * time.Millisecond

// processCPU is the user plus system CPU time that process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces; the fields after it are fixed:
	// utime and stime are the 14th and 15th fields of the line, the 12th and 13th after it.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("CPU time of %d: cannot read /proc/%d/stat", pid, pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("CPU time of %d: cannot read /proc/%d/stat", pid, pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// selfCPU is the CPU time the bench itself (the client) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processStatus returns the memory fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, …) in
// bytes.
func processStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("status of %d: %w", pid, err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[name] = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("status of %d: %w", pid, err)
	}
	return out, nil
}

// rssPeak is what an rssSampler saw: the largest VmRSS and the breakdown at that moment.
type rssPeak struct {
	samples int
	status  map[string]int64 // at the largest VmRSS
}

func (p rssPeak) rss() int64 { return p.status["VmRSS"] }

// sampleRSS reads process pid's /proc status every interval until ctx ends, and returns the
// sample with the largest VmRSS through the channel.
func sampleRSS(ctx context.Context, pid int, interval time.Duration) <-chan rssPeak {
	out := make(chan rssPeak, 1)
	go func() {
		var peak rssPeak
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if st, err := processStatus(pid); err == nil {
				peak.samples++
				if st["VmRSS"] > peak.rss() {
					peak.status = st
				}
			}
			select {
			case <-ctx.Done():
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// machine describes where the bench runs, for the top of its output.
type machine struct {
	goVersion  string
	cpus       int
	cpuModel   string
	kernel     string
	memory     int64
	fsType     string // of the work directory
	fsSource   string
	ingestVers string
}

func describeMachine(ctx context.Context, ingestPath, workDir string) machine {
	m := machine{goVersion: runtime.Version(), cpus: runtime.NumCPU(), cpuModel: "unknown", kernel: "unknown"}
	if v, ok := cpuInfoField("model name"); ok {
		m.cpuModel = v
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(data))
	}
	m.memory = memTotal()
	m.fsType, m.fsSource = filesystemOf(workDir)
	cmdCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cmdCtx, ingestPath, "version").Output(); err == nil {
		m.ingestVers = strings.TrimSpace(string(out))
	}
	return m
}

func cpuInfoField(name string) (string, bool) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func memTotal() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0
			}
			if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// filesystemOf returns the type and source of the filesystem holding dir, from the longest
// mount point above it in /proc/self/mountinfo.
func filesystemOf(dir string) (fsType, fsSource string) {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "unknown", ""
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "unknown", ""
	}
	best := -1
	fsType = "unknown"
	for line := range strings.SplitSeq(string(data), "\n") {
		// id parent major:minor root mountpoint options [optional…] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 2 {
			continue
		}
		mp := fields[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, fsType, fsSource = len(mp), after[0], after[1]
		}
	}
	return fsType, fsSource
}
