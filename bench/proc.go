package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// usage is what a finished process cost, measured from outside.
type usage struct {
	WallSeconds float64 `json:"wallSeconds"`
	ExitCode    int     `json:"exitCode"`
	// MaxRSSMiB is the process's peak RSS: the highest VmHWM of
	// /proc/<pid>/status, read every 20 ms (VmHWM is itself a high-water
	// mark, so only growth in the last 20 ms before exit could be missed).
	MaxRSSMiB float64 `json:"maxRSSMiB"`
	// RusageMaxRSSMiB is getrusage's ru_maxrss. On Linux it is at least the
	// RSS of the bench itself when it started the child (the kernel carries
	// the parent's high-water mark over exec for a vfork-style spawn, which
	// Go uses), so it overstates small processes; kept for reference.
	RusageMaxRSSMiB float64            `json:"rusageMaxRSSMiB"`
	CPUSeconds      float64            `json:"cpuSeconds"` // user + system
	ServerCPU       map[string]float64 `json:"serverCPUSeconds"`
	// CassandraThreads is Cassandra's CPU by group of threads
	// (threadGroups): where the server's share went.
	CassandraThreads map[string]float64 `json:"cassandraThreadCPUSeconds,omitempty"`
	// MachineCPU is what every process of the machine used meanwhile: the
	// difference to the arm's own and the servers' shows load from others.
	MachineCPU float64 `json:"machineCPUSeconds"`
}

// proc is a child process being measured.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	log     *os.File
	watcher lineWatcher
	start   time.Time
	cpu0    map[string]float64
	thr0    map[string]thread // Cassandra's threadCPU at the start
	busy0   float64
	st      *stack
	hwm     atomic.Int64 // highest VmHWM seen, KiB
	done    chan struct{}
}

// startProc starts name with args; stdout is kept in memory (and copied to
// logPath with stderr) so child arms can report JSON and indexsync's console
// lines stay readable after the run.
func startProc(ctx context.Context, st *stack, logPath, name string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "$ %s %q\n", name, args)
	p := &proc{name: name, log: f, st: st}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Env = st.env()
	p.cmd.Stdout = io.MultiWriter(&p.stdout, f, &p.watcher)
	p.cmd.Stderr = f
	// on ^C, let indexsync stop as it does for a user (checkpoint saved)
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = 30 * time.Second
	p.cpu0 = st.serverCPU()
	p.thr0 = threadCPU(st.pids["cassandra"])
	p.busy0, _ = machineBusy()
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.done = make(chan struct{})
	go p.pollHWM()
	return p, nil
}

// pollHWM records the process's VmHWM until it is waited for.
func (p *proc) pollHWM() {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if kb := readHWM(path); kb > p.hwm.Load() {
			p.hwm.Store(kb)
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// readHWM returns the VmHWM line of a /proc/<pid>/status file, in KiB.
func readHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// watch closes ch the first time needle appears in the process's stdout.
func (p *proc) watch(needle string, ch chan<- struct{}) {
	p.watcher.set(needle, ch)
}

// lineWatcher is an io.Writer that closes a channel once a string passed
// through it (it keeps a short tail, so a string split over writes counts).
type lineWatcher struct {
	mu     sync.Mutex
	needle string
	ch     chan<- struct{}
	tail   []byte
}

func (w *lineWatcher) set(needle string, ch chan<- struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.needle, w.ch = needle, ch
}

func (w *lineWatcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		return len(b), nil
	}
	w.tail = append(w.tail, b...)
	if bytes.Contains(w.tail, []byte(w.needle)) {
		close(w.ch)
		w.ch, w.tail = nil, nil
		return len(b), nil
	}
	if keep := len(w.needle); len(w.tail) > keep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-keep:]...)
	}
	return len(b), nil
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// wait waits for the process to end and measures it. A non-zero exit is not
// an error here: the caller knows which codes it expects.
func (p *proc) wait() (usage, error) {
	err := p.cmd.Wait()
	close(p.done)
	u := usage{WallSeconds: time.Since(p.start).Seconds(), ServerCPU: map[string]float64{}}
	busy1, _ := machineBusy()
	u.MachineCPU = busy1 - p.busy0
	cpu1 := p.st.serverCPU()
	for s, v := range cpu1 {
		if v0, ok := p.cpu0[s]; ok {
			u.ServerCPU[s] = v - v0
		}
	}
	if thr1 := threadCPU(p.st.pids["cassandra"]); p.thr0 != nil && thr1 != nil {
		u.CassandraThreads = threadGroups(p.thr0, thr1)
	}
	_ = p.log.Close()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return u, fmt.Errorf("%s: %w", p.name, err)
	}
	ps := p.cmd.ProcessState
	u.ExitCode = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		u.ExitCode = 128 + int(ws.Signal())
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.RusageMaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	u.MaxRSSMiB = float64(p.hwm.Load()) / 1024
	if u.MaxRSSMiB == 0 { // no /proc: the rusage figure, an upper bound
		u.MaxRSSMiB = u.RusageMaxRSSMiB
	}
	u.CPUSeconds = ps.UserTime().Seconds() + ps.SystemTime().Seconds()
	return u, nil
}

// runProc starts a process and waits for it.
func runProc(ctx context.Context, st *stack, logPath, name string, args ...string) (usage, []byte, error) {
	p, err := startProc(ctx, st, logPath, name, args...)
	if err != nil {
		return usage{}, nil, err
	}
	u, err := p.wait()
	return u, p.stdout.Bytes(), err
}
