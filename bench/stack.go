package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// stack is the local Cassandra + search engine of testinfra/stack.sh.
type stack struct {
	CassandraHost string
	CassandraPort int
	SearchURL     string
	Username      string
	Password      string
	engine        string   // STACK_ENGINE: opensearch-2.19, elasticsearch-6.8, …
	started       []string // servers this bench started ("cassandra", "search"), stopped again at the end
	pids          map[string]int
}

// engineServer is the name stack.sh gives the engine's server in status
// lines and its work dir under STACK_DIR.
func engineServer(engine string) string {
	if strings.HasPrefix(engine, "opensearch-") {
		return "opensearch"
	}
	return engine
}

// stackCmd is testinfra/stack.sh with STACK_ENGINE set to the bench's engine.
func (st *stack) stackCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "testinfra/stack.sh", args...)
	cmd.Env = append(os.Environ(), "STACK_ENGINE="+st.engine)
	return cmd
}

// upStack starts the servers that are not running — Cassandra and the
// engine (BENCH_ENGINE) — and reads their addresses from `stack.sh env`.
func upStack(ctx context.Context, engine string) (*stack, error) {
	st := &stack{engine: engine, pids: map[string]int{}}
	out, _ := st.stackCmd(ctx, "status").Output() // non-zero when one is down
	if !statusRunning(string(out), "cassandra") {
		st.started = append(st.started, "cassandra")
	}
	if !statusRunning(string(out), engineServer(engine)) {
		st.started = append(st.started, "search")
	}
	for _, s := range st.started {
		logf("starting %s (STACK_ENGINE=%s testinfra/stack.sh up %s); it is stopped again at the end", s, engine, s)
		cmd := st.stackCmd(ctx, "up", s)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return st, fmt.Errorf("testinfra/stack.sh up %s: %w", s, err)
		}
	}
	env, err := st.stackCmd(ctx, "env").Output()
	if err != nil {
		return st, fmt.Errorf("testinfra/stack.sh env: %w", err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(env))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			vars[k] = v
		}
	}
	host, port, ok := strings.Cut(vars["INDEXSYNC_TEST_CASSANDRA"], ":")
	st.CassandraHost = host
	st.CassandraPort, err = strconv.Atoi(port)
	if !ok || err != nil || vars["INDEXSYNC_TEST_SEARCH_URL"] == "" {
		return st, fmt.Errorf("testinfra/stack.sh env gave no usable addresses: %q", env)
	}
	st.SearchURL = vars["INDEXSYNC_TEST_SEARCH_URL"]
	st.Username = vars["INDEXSYNC_TEST_CASSANDRA_USERNAME"]
	st.Password = vars["INDEXSYNC_TEST_CASSANDRA_PASSWORD"]
	stackDir := os.Getenv("STACK_DIR")
	if stackDir == "" {
		stackDir = ".stack"
	}
	for key, server := range map[string]string{"cassandra": "cassandra", "search": engineServer(engine)} {
		if b, err := os.ReadFile(filepath.Join(stackDir, server, "server.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				st.pids[key] = pid
			}
		}
	}
	return st, nil
}

// statusRunning reads one server's line of `stack.sh status`.
func statusRunning(status, server string) bool {
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == server && f[1] == "running" {
			return true
		}
	}
	return false
}

// down stops what upStack started.
func (st *stack) down() {
	for _, s := range st.started {
		cmd := st.stackCmd(context.Background(), "down", s)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			logf("stopping %s: %v", s, err)
		}
	}
}

// env is the environment for indexsync and the child arms: the Cassandra
// login goes in variables, never on a command line.
func (st *stack) env() []string {
	return append(os.Environ(),
		"INDEXSYNC_CASSANDRA_USERNAME="+st.Username,
		"INDEXSYNC_CASSANDRA_PASSWORD="+st.Password,
	)
}

// serverCPU returns the CPU seconds (user + system) each server has used so
// far; a server whose pid is unknown is left out.
func (st *stack) serverCPU() map[string]float64 {
	out := map[string]float64{}
	for s, pid := range st.pids {
		if v, ok := procCPU(pid); ok {
			out[s] = v
		}
	}
	return out
}

// procCPU reads utime + stime of a process from /proc (Linux).
func procCPU(pid int) (float64, bool) {
	_, cpu, ok := statCPU(fmt.Sprintf("/proc/%d/stat", pid))
	return cpu, ok
}

// threadCPU returns the CPU seconds each thread of a server has used so
// far, with its name (the kernel's, cut to 15 bytes), by thread id.
func threadCPU(pid int) map[string]thread {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string]thread{}
	for _, t := range tasks {
		if name, cpu, ok := statCPU(filepath.Join(dir, t.Name(), "stat")); ok {
			out[t.Name()] = thread{name, cpu}
		}
	}
	return out
}

type thread struct {
	name string
	cpu  float64
}

// threadGroups returns what each group of threads used between two
// threadCPU readings: threads named alike, their numbers dropped
// (Cassandra's ReadStage-3 and ReadStage-7 are ReadStage), by the name a
// thread has at the end (Cassandra's shared pool renames a worker for the
// stage it serves). Threads that ended in between are not seen.
func threadGroups(before, after map[string]thread) map[string]float64 {
	out := map[string]float64{}
	for tid, t := range after {
		if d := t.cpu - before[tid].cpu; d > 0 {
			out[strings.TrimRight(t.name, "0123456789-:#")] += d
		}
	}
	return out
}

// statCPU reads the command name and utime + stime of a /proc stat file.
func statCPU(path string) (name string, cpu float64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, false
	}
	// the command name (field 2) may hold spaces: fields count from its ')'
	i := bytes.LastIndexByte(b, ')')
	j := bytes.IndexByte(b, '(')
	if i < 0 || j < 0 || j > i {
		return "", 0, false
	}
	name = string(b[j+1 : i])
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return "", 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	stt, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux we run on
	return name, (ut + stt) / clockTicks, true
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// machineBusy returns the CPU seconds all processes of the machine have
// used so far (every jiffy that was neither idle nor iowait), from /proc/stat.
func machineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 && i < 8 { // not idle, iowait, nor guest (counted in user)
			busy += n
		}
	}
	const clockTicks = 100
	return busy / clockTicks, true
}

// settle waits (at most maxWait) until the machine is quiet: less than a
// fifth of one core busy over half a second, so that one arm's aftermath
// (a merge, a compaction, a GC) is not billed to the next. It returns the
// busy fraction of the machine it saw last (0..1), which also shows load
// from others using the same stack.
func settle(maxWait time.Duration) float64 {
	deadline := time.Now().Add(maxWait)
	for {
		b0, ok := machineBusy()
		t0 := time.Now()
		time.Sleep(500 * time.Millisecond)
		b1, ok2 := machineBusy()
		if !ok || !ok2 {
			return 0
		}
		frac := (b1 - b0) / time.Since(t0).Seconds() / float64(runtime.NumCPU())
		if frac < 0.2/float64(runtime.NumCPU()) || time.Now().After(deadline) {
			return frac
		}
	}
}

// pin is BENCH_PIN: two machines in miniature. The search engine gets the
// first half of the cores; Cassandra, the bench and everything it starts
// (indexsync, serve, the child arms inherit the bench's affinity) the other
// half. Then indexing and reading no longer take CPU from each other, as
// when the engine and the database run on their own machines. unpin gives
// the servers every core again.
func (st *stack) pin(ctx context.Context) (cpus [2]string, err error) {
	n := runtime.NumCPU()
	if n < 2 {
		return cpus, fmt.Errorf("BENCH_PIN needs at least 2 cores, this machine has %d", n)
	}
	half := n / 2
	cpus = [2]string{cpuList(0, half-1), cpuList(half, n-1)}
	for _, p := range []struct {
		pid  int
		cpus string
		what string
	}{{st.pids["search"], cpus[0], "the search engine"}, {st.pids["cassandra"], cpus[1], "Cassandra"}, {os.Getpid(), cpus[1], "the bench"}} {
		if p.pid == 0 {
			return cpus, fmt.Errorf("BENCH_PIN: the pid of %s is unknown (is it running from testinfra/stack.sh?)", p.what)
		}
		if out, err := exec.CommandContext(ctx, "taskset", "-a", "-p", "-c", p.cpus, strconv.Itoa(p.pid)).CombinedOutput(); err != nil {
			return cpus, fmt.Errorf("BENCH_PIN: taskset %s to CPUs %s: %w: %s", p.what, p.cpus, err, bytes.TrimSpace(out))
		}
	}
	return cpus, nil
}

func (st *stack) unpin() {
	all := cpuList(0, runtime.NumCPU()-1)
	for _, s := range []string{"search", "cassandra"} {
		if pid := st.pids[s]; pid != 0 {
			if out, err := exec.Command("taskset", "-a", "-p", "-c", all, strconv.Itoa(pid)).CombinedOutput(); err != nil {
				logf("giving %s every CPU again: %v: %s", s, err, bytes.TrimSpace(out))
			}
		}
	}
}

func cpuList(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}
