package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// usage is what a finished process cost, measured from outside.
type usage struct {
	WallSeconds float64            `json:"wallSeconds"`
	ExitCode    int                `json:"exitCode"`
	MaxRSSMiB   float64            `json:"maxRSSMiB"`  // getrusage ru_maxrss of the process
	CPUSeconds  float64            `json:"cpuSeconds"` // user + system
	ServerCPU   map[string]float64 `json:"serverCPUSeconds"`
	// MachineCPU is what every process of the machine used meanwhile: the
	// difference to the arm's own and the servers' shows load from others.
	MachineCPU float64 `json:"machineCPUSeconds"`
}

// proc is a child process being measured.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	log    *os.File
	start  time.Time
	cpu0   map[string]float64
	busy0  float64
	st     *stack
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
	p.cmd.Stdout = io.MultiWriter(&p.stdout, f)
	p.cmd.Stderr = f
	// on ^C, let indexsync stop as it does for a user (checkpoint saved)
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = 30 * time.Second
	p.cpu0 = st.serverCPU()
	p.busy0, _ = machineBusy()
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// wait waits for the process to end and measures it. A non-zero exit is not
// an error here: the caller knows which codes it expects.
func (p *proc) wait() (usage, error) {
	err := p.cmd.Wait()
	u := usage{WallSeconds: time.Since(p.start).Seconds(), ServerCPU: map[string]float64{}}
	busy1, _ := machineBusy()
	u.MachineCPU = busy1 - p.busy0
	cpu1 := p.st.serverCPU()
	for s, v := range cpu1 {
		if v0, ok := p.cpu0[s]; ok {
			u.ServerCPU[s] = v - v0
		}
	}
	p.log.Close()
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
		u.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
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
