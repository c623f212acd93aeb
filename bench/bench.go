package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/secret"
)

// benchRun is one measured run of an arm.
type benchRun struct {
	Arm           string         `json:"arm"`
	Users         int            `json:"users"`
	Round         int            `json:"round"`
	Docs          int64          `json:"docs"`    // users read, documents indexed, or ids synced
	Seconds       float64        `json:"seconds"` // the measured part (indexsync: its summary's durationSeconds)
	DocsPerSecond float64        `json:"docsPerSecond"`
	Indexed       int64          `json:"indexed,omitempty"` // documents in the index after the run (A, T, T2)
	Settings      map[string]any `json:"settings"`
	Process       usage          `json:"process"`         // indexsync run, or the bench child of A, B, D
	Serve         *usage         `json:"serve,omitempty"` // indexsync serve of T2 and C
	Error         string         `json:"error,omitempty"`
	// BusyBefore: the machine's CPU use just before the arm (0..1 of all
	// cores), after waiting up to BENCH_SETTLE for it to go quiet.
	BusyBefore float64 `json:"machineBusyBefore"`
	// IndexStats: what the engine says it did for the run's index
	// (indexing, refresh and merge counts and times), read before deleting it.
	IndexStats map[string]float64 `json:"indexStats,omitempty"`
	// OtherCPU: CPU seconds used during the run by processes that are
	// neither the arm's nor the servers' — others using the machine (their
	// load on the two servers cannot be told apart and is in ServerCPU).
	OtherCPU float64 `json:"otherCPUSeconds"`
}

// docCheck compares documents in the index after a T run with the prebuilt
// ones arm A loads.
type docCheck struct {
	Users     int      `json:"users"`
	Checked   int      `json:"checked"`
	Identical int      `json:"identical"`
	Differ    []string `json:"differ,omitempty"` // ids whose bytes differ or are missing
}

type bench struct {
	cfg     benchConfig
	st      *stack
	client  *search.Client
	sess    *cassandra.Session
	self    string // this binary, for the child arms
	started time.Time
	engine  string
	cassVer string
	pinned  [2]string // BENCH_PIN: the search engine's CPUs, and everything else's
	runs    []benchRun
	round   int          // the round being run
	busy    float64      // how busy the machine was just before the arm (0..1)
	finishC func() error // arm C running in the background, if any
	checks  []docCheck
	seedSec map[int]float64
	spark   sparkJob // arm P's job (BENCH_PEER=spark)
}

func runBench(ctx context.Context, cfg benchConfig) error {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(cfg.OutDir)
	if err != nil {
		return err
	}
	defer unlock()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, self: self, started: time.Now(), seedSec: map[int]float64{}}
	if cfg.Peer == "spark" {
		// before the stack: without the job there is no bench to run
		if b.spark, err = buildSpark(ctx, cfg.OutDir); err != nil {
			return err
		}
	}

	st, err := upStack(ctx, cfg.Engine)
	defer st.down()
	if err != nil {
		return err
	}
	b.st = st
	if cfg.Pin {
		cpus, err := st.pin(ctx)
		defer st.unpin()
		if err != nil {
			return err
		}
		b.pinned = cpus
		logf("BENCH_PIN: search engine on CPUs %s; Cassandra, indexsync and the arms on CPUs %s", cpus[0], cpus[1])
	}
	b.started = time.Now() // the budget counts from here: a stack start is extra
	b.client, err = search.NewClient(search.Config{URLs: []string{st.SearchURL}, Retries: 3, Timeout: 2 * time.Minute, UserAgent: "indexsync-bench"})
	if err != nil {
		return err
	}
	info, err := b.client.Info(ctx)
	if err != nil {
		return err
	}
	b.engine = info.String()
	b.sess, err = cassandra.Connect(ctx, cassandra.Config{
		Hosts: []string{st.CassandraHost}, Port: st.CassandraPort, Username: st.Username,
		Password: secret.New(st.Password), Consistency: "LOCAL_ONE", Timeout: time.Minute,
	})
	if err != nil {
		return err
	}
	defer b.sess.Close()
	_ = b.sess.Query("SELECT release_version FROM system.local").ScanContext(ctx, &b.cassVer)

	logf("%s, Cassandra %s; sizes %v users, %d rounds, budget %s", b.engine, b.cassVer, cfg.sizes(), cfg.Rounds, cfg.Budget)
	var runErr error
	sizes := cfg.sizes()
	for i, n := range sizes {
		if runErr = b.size(ctx, n, i == len(sizes)-1); runErr != nil {
			break
		}
	}
	runErr = errors.Join(runErr, b.waitC())
	if !cfg.Keep {
		for _, n := range sizes {
			b.cleanup(context.WithoutCancel(ctx), n)
		}
	}
	rep := b.report()
	if len(b.runs) > 0 {
		rep.print(os.Stdout)
		if err := rep.write(cfg.Results); err != nil {
			return errors.Join(runErr, err)
		}
		logf("raw runs in %s", cfg.Results)
	}
	return runErr
}

// lockDir keeps two benches from using the same keyspaces at once.
func lockDir(dir string) (func(), error) {
	f, err := os.Create(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("another bench is running in this checkout (%s/.lock is held); wait for it", dir)
	}
	return func() { _ = f.Close() }, nil
}

func keyspaceOf(n int) string        { return fmt.Sprintf("bench_%d", n) }
func aliasOf(n int, k string) string { return fmt.Sprintf("bench_%d_%s", n, k) }

// over reports whether the time budget is spent.
func (b *bench) over() bool { return time.Since(b.started) > b.cfg.Budget }

// estimate guesses how long arm takes at n users, from its last run at n,
// or else scaled from its last run at another size; 0 when it never ran.
// It counts the settling and index set-up around the run too.
func (b *bench) estimate(arm string, n int) time.Duration {
	for i := len(b.runs) - 1; i >= 0; i-- {
		r := b.runs[i]
		if r.Arm != arm || r.Process.WallSeconds == 0 {
			continue
		}
		sec := r.Process.WallSeconds * float64(n) / float64(r.Users)
		return time.Duration((sec+5)*float64(time.Second)) + b.cfg.Settle
	}
	return 0
}

// roundArms run once in each round, interleaved.
var roundArms = []string{"A", "B", "T", "P"}

// size runs every arm for n users.
func (b *bench) size(ctx context.Context, n int, last bool) error {
	dir := filepath.Join(b.cfg.OutDir, fmt.Sprintf("run_%d", n))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	reused, err := b.prepare(ctx, n, dir)
	if err != nil {
		return fmt.Errorf("prepare %d users: %w", n, err)
	}
	if err := b.waitC(); err != nil {
		return err
	}
	docs := filepath.Join(b.cfg.OutDir, fmt.Sprintf("docs_%d.tsv", n))
	if _, err := os.Stat(docs); err == nil && reused {
		logf("reusing %s (BENCH_KEEP)", docs)
	} else if b.cfg.runs("A") || (b.cfg.runs("T") && !b.cfg.Scale) {
		b.busy = settle(b.cfg.Settle)
		if err := b.armDump(ctx, n, dir, docs); err != nil {
			return err
		}
	}
	arms := map[string]func() error{
		"A":  func() error { return b.armA(ctx, n, b.round, dir, docs) },
		"B":  func() error { return b.armB(ctx, n, b.round, dir) },
		"T":  func() error { return b.armT(ctx, n, b.round, dir, docs) },
		"T2": func() error { return b.armT2(ctx, n, dir) },
		"TB": func() error { return b.armTB(ctx, n, dir) },
		"P":  func() error { return b.armP(ctx, n, b.round, dir) },
	}
	measure := func(arm string) error {
		if !b.cfg.runs(arm) {
			return nil
		}
		if est := b.estimate(arm, n); time.Since(b.started)+est > b.cfg.Budget {
			logf("time budget %s: skipping arm %s (round %d) of %d users, which would end after it (about %s)", b.cfg.Budget, arm, b.round, n, est.Round(time.Second))
			return nil
		}
		b.busy = settle(b.cfg.Settle)
		if err := ctx.Err(); err != nil {
			return err
		}
		return arms[arm]()
	}
	// T2 right after the first round: should the budget run out, it is
	// later rounds that are missing, not an arm.
	for b.round = 1; b.round <= b.cfg.Rounds; b.round++ {
		// a round runs whole or not at all, so the arms stay interleaved
		var est time.Duration
		for _, arm := range roundArms {
			if b.cfg.runs(arm) {
				est += b.estimate(arm, n)
			}
		}
		if b.round > 1 && time.Since(b.started)+est > b.cfg.Budget {
			logf("time budget %s: skipping rounds %d to %d of %d users, which would end after it (a round takes about %s)", b.cfg.Budget, b.round, b.cfg.Rounds, n, est.Round(time.Second))
			break
		}
		for _, arm := range roundArms {
			if err := measure(arm); err != nil {
				return err
			}
		}
		if b.round == 1 {
			if err := measure("T2"); err != nil {
				return err
			}
			if err := measure("TB"); err != nil {
				return err
			}
		}
	}
	if b.cfg.runs("C") && b.cfg.CSeconds > 0 && b.finishC == nil {
		// C on the first size, overlapping the seeding of the next one
		if b.over() {
			logf("time budget spent: skipping arm C")
		} else {
			b.busy = settle(b.cfg.Settle)
			finish, err := b.startC(ctx, n, dir)
			if err != nil {
				return err
			}
			b.finishC = finish
			if last {
				return b.waitC()
			}
		}
	}
	if !b.cfg.Keep {
		_ = os.Remove(docs)
	}
	return nil
}

// waitC waits for arm C, if it runs.
func (b *bench) waitC() error {
	if b.finishC == nil {
		return nil
	}
	err := b.finishC()
	b.finishC = func() error { return nil } // C runs once
	return err
}

// prepare makes a fresh keyspace with n users and the bench aliases. With
// BENCH_KEEP, a keyspace kept by an earlier bench that holds n users is
// reused (seeding is deterministic: the same rows again).
func (b *bench) prepare(ctx context.Context, n int, dir string) (reused bool, err error) {
	ks := keyspaceOf(n)
	if b.cfg.Keep && b.countUsers(ctx, ks) == int64(n) {
		logf("reusing keyspace %s (BENCH_KEEP)", ks)
		return true, nil
	}
	b.cleanup(ctx, n) // what an interrupted bench left
	args := append([]string{"schema", "--keyspace", ks,
		"--user-index", aliasOf(n, "user"), "--org-index", aliasOf(n, "org"), "--location-index", aliasOf(n, "location"),
		"--index-replicas", "0", "--index-shards", strconv.Itoa(b.cfg.Shards)}, b.connArgs(true)...)
	if err := b.indexsync(ctx, filepath.Join(dir, "schema.log"), args...); err != nil {
		return false, err
	}
	logf("seeding %d users into keyspace %s (not measured)", n, ks)
	t0 := time.Now()
	args = append([]string{"seed", "--keyspace", ks, "--users", strconv.Itoa(n)}, b.connArgs(false)...)
	if err := b.indexsync(ctx, filepath.Join(dir, "seed.log"), args...); err != nil {
		return false, err
	}
	b.seedSec[n] = time.Since(t0).Seconds()
	b.waitCompactions(ctx, ks)
	return false, nil
}

// countUsers counts the users of keyspace ks; -1 when it cannot.
func (b *bench) countUsers(ctx context.Context, ks string) int64 {
	whole := []cassandra.Range{{Start: cassandra.MinToken, End: cassandra.MaxToken}}
	n, err := b.sess.CountPartitions(ctx, ks, "user", "id", whole, 1)
	if err != nil {
		return -1
	}
	return n
}

// indexsync runs a setup command of indexsync and wants exit 0.
func (b *bench) indexsync(ctx context.Context, logPath string, args ...string) error {
	u, _, err := runProc(ctx, b.st, logPath, b.cfg.Indexsync, args...)
	if err != nil {
		return err
	}
	if u.ExitCode != 0 {
		return fmt.Errorf("indexsync %s exited %d (log: %s)", args[0], u.ExitCode, logPath)
	}
	return nil
}

// rangesFlag is indexsync's --ranges for BENCH_RANGES: "auto" for 0 (run
// refuses an explicit 0 since its flags took auto).
func (b *bench) rangesFlag() string {
	if b.cfg.Ranges == 0 {
		return "auto"
	}
	return strconv.Itoa(b.cfg.Ranges)
}

// connArgs are indexsync's connection flags for the stack.
func (b *bench) connArgs(withSearch bool) []string {
	a := []string{"--cassandra-hosts", b.st.CassandraHost, "--cassandra-port", strconv.Itoa(b.st.CassandraPort),
		"--log-format", "text", "--progress", "never"}
	if withSearch {
		a = append(a, "--search-url", b.st.SearchURL)
	}
	return a
}

// waitCompactions waits (at most a minute) until Cassandra runs no
// compaction on ks, so that seeding's aftermath does not land in an arm.
func (b *bench) waitCompactions(ctx context.Context, ks string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		iter := b.sess.Query("SELECT keyspace_name FROM system_views.sstable_tasks").IterContext(ctx)
		busy := false
		var k string
		for iter.Scan(&k) {
			busy = busy || k == ks
		}
		if err := iter.Close(); err != nil || !busy {
			return
		}
		time.Sleep(time.Second)
	}
	logf("compactions on %s still running after a minute; going on", ks)
}

// cleanup drops what the bench made for n users.
func (b *bench) cleanup(ctx context.Context, n int) {
	for _, k := range []string{"user", "org", "location"} {
		idx, err := b.client.GetAlias(ctx, aliasOf(n, k))
		if err != nil {
			continue
		}
		for _, i := range idx {
			b.deleteIndex(ctx, i)
		}
	}
	b.deleteIndex(ctx, aliasOf(n, "raw"))
	b.deleteIndex(ctx, aliasOf(n, "peer"))
	if err := b.sess.Query("DROP KEYSPACE IF EXISTS " + keyspaceOf(n)).ExecContext(ctx); err != nil {
		logf("drop keyspace %s: %v", keyspaceOf(n), err)
	}
}

func (b *bench) deleteIndex(ctx context.Context, name string) {
	if err := b.client.DeleteIndex(ctx, name); err != nil && !errors.Is(err, search.ErrNotFound) {
		logf("delete index %s: %v", name, err)
	}
}

// freshIndex creates an empty user index named name, with the mapping and
// settings `indexsync schema --index-replicas 0` gives, and points alias at
// it (alias "" for none), deleting what the alias pointed at before.
func (b *bench) freshIndex(ctx context.Context, name, alias string) error {
	b.deleteIndex(ctx, name)
	var old []string
	if alias != "" {
		var err error
		if old, err = b.client.GetAlias(ctx, alias); err != nil {
			return err
		}
	}
	for _, o := range old {
		b.deleteIndex(ctx, o)
	}
	body, err := schema.UserIndex.Body(b.cfg.Shards, 0)
	if err != nil {
		return err
	}
	if b.cfg.Refresh != "" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		m["settings"].(map[string]any)["index"].(map[string]any)["refresh_interval"] = b.cfg.Refresh
		if body, err = json.Marshal(m); err != nil {
			return err
		}
	}
	if err := b.client.CreateIndex(ctx, name, body); err != nil {
		return err
	}
	if alias == "" {
		return nil
	}
	return b.client.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasAdd, Index: name, Alias: alias}})
}

// indexStats reads the engine's own account of the work on index: time
// spent indexing, refreshes and merges (OpenSearch/Elasticsearch _stats).
// These are per index, so others using the engine do not add to them.
func (b *bench) indexStats(ctx context.Context, index string) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(b.st.SearchURL, "/")+"/"+index+"/_stats/indexing,refresh,merge,flush,segments", nil)
	if err != nil {
		return nil
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer func() { _ = res.Body.Close() }()
	var body struct {
		All struct {
			Primaries struct {
				Indexing struct {
					Count  float64 `json:"index_total"`
					TimeMS float64 `json:"index_time_in_millis"`
				} `json:"indexing"`
				Refresh struct {
					Count  float64 `json:"total"`
					TimeMS float64 `json:"total_time_in_millis"`
				} `json:"refresh"`
				Merges struct {
					Count  float64 `json:"total"`
					TimeMS float64 `json:"total_time_in_millis"`
				} `json:"merges"`
				Flush struct {
					Count float64 `json:"total"`
				} `json:"flush"`
				Segments struct {
					Count float64 `json:"count"`
				} `json:"segments"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&body) != nil {
		return nil
	}
	p := body.All.Primaries
	return map[string]float64{
		"indexed": p.Indexing.Count, "indexingSeconds": p.Indexing.TimeMS / 1000,
		"refreshes": p.Refresh.Count, "refreshSeconds": p.Refresh.TimeMS / 1000,
		"merges": p.Merges.Count, "mergeSeconds": p.Merges.TimeMS / 1000,
		"flushes": p.Flush.Count, "segments": p.Segments.Count,
	}
}

// countIndex refreshes index and counts its documents.
func (b *bench) countIndex(ctx context.Context, index string) int64 {
	if err := b.client.Refresh(ctx, index); err != nil {
		logf("refresh %s: %v", index, err)
		return -1
	}
	n, err := b.client.Count(ctx, index)
	if err != nil {
		logf("count %s: %v", index, err)
		return -1
	}
	return n
}

// child runs `bench -arm …` and reads its JSON result.
func (b *bench) child(ctx context.Context, logPath string, args ...string) (armResult, usage, error) {
	u, out, err := runProc(ctx, b.st, logPath, b.self, args...)
	var res armResult
	if err != nil {
		return res, u, err
	}
	if u.ExitCode != 0 {
		return res, u, fmt.Errorf("bench %s exited %d (log: %s)", strings.Join(args[:2], " "), u.ExitCode, logPath)
	}
	if err := json.Unmarshal(lastLine(out), &res); err != nil {
		return res, u, fmt.Errorf("bench %s: its result: %w (log: %s)", strings.Join(args[:2], " "), err, logPath)
	}
	return res, u, nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func (b *bench) profileArgs(name string) []string {
	if b.cfg.ProfileDir == "" {
		return nil
	}
	return []string{"-cpuprofile", filepath.Join(b.cfg.ProfileDir, name+".pprof")}
}

func (b *bench) add(r benchRun) {
	r.BusyBefore = b.busy
	r.OtherCPU = r.Process.MachineCPU - r.Process.CPUSeconds
	for _, v := range r.Process.ServerCPU {
		r.OtherCPU -= v
	}
	if r.Serve != nil {
		r.OtherCPU -= r.Serve.CPUSeconds
	}
	r.OtherCPU = max(r.OtherCPU, 0)
	b.runs = append(b.runs, r)
	extra := ""
	if r.Serve != nil {
		extra = fmt.Sprintf(", serve RSS %.0f MiB", r.Serve.MaxRSSMiB)
	}
	logf("%-2s %7d users round %d: %8.0f docs/s (%d in %.1f s), RSS %.0f MiB, CPU %.1f s%s %s",
		r.Arm, r.Users, r.Round, r.DocsPerSecond, r.Docs, r.Seconds, r.Process.MaxRSSMiB, r.Process.CPUSeconds, extra, r.Error)
}

// armDump writes the documents file (arm D: the source alone, building
// documents, no index; informative, not one of the ceilings).
func (b *bench) armDump(ctx context.Context, n int, dir, docs string) error {
	logf("building the documents of %d users into %s", n, docs)
	args := append([]string{"-arm", "dump", "-docs", docs, "-keyspace", keyspaceOf(n),
		"-cassandra-host", b.st.CassandraHost, "-cassandra-port", strconv.Itoa(b.st.CassandraPort),
		"-workers", strconv.Itoa(b.cfg.Concurrency), "-ranges", strconv.Itoa(b.cfg.Ranges)}, b.profileArgs(fmt.Sprintf("D_%d", n))...)
	res, u, err := b.child(ctx, filepath.Join(dir, "D.log"), args...)
	if err != nil {
		return err
	}
	if res.Docs != int64(n) {
		return fmt.Errorf("the documents file holds %d users, the keyspace was seeded with %d", res.Docs, n)
	}
	b.add(benchRun{Arm: "D", Users: n, Round: 1, Docs: res.Docs, Seconds: res.Seconds, DocsPerSecond: float64(res.Docs) / res.Seconds,
		Settings: map[string]any{"workers": b.cfg.Concurrency, "ranges": b.cfg.Ranges, "bytes": res.Bytes}, Process: u})
	return nil
}

func (b *bench) armA(ctx context.Context, n, round int, dir, docs string) error {
	index := aliasOf(n, "raw")
	if err := b.freshIndex(ctx, index, ""); err != nil {
		return err
	}
	args := append([]string{"-arm", "A", "-docs", docs, "-index", index, "-search-url", b.st.SearchURL,
		"-workers", strconv.Itoa(b.cfg.Concurrency), "-block", strconv.Itoa(b.cfg.BlockSize),
		"-bulk-bytes", strconv.FormatInt(b.cfg.BulkBytes, 10)}, b.profileArgs(fmt.Sprintf("A_%d_%d", n, round))...)
	res, u, err := b.child(ctx, filepath.Join(dir, fmt.Sprintf("A%d.log", round)), args...)
	r := benchRun{Arm: "A", Users: n, Round: round, Docs: res.Docs, Seconds: res.Seconds, Process: u,
		Settings: map[string]any{"workers": b.cfg.Concurrency, "blockSize": b.cfg.BlockSize, "bulkBytes": b.cfg.BulkBytes, "shards": b.cfg.Shards}}
	if err != nil {
		r.Error = err.Error()
	} else {
		r.DocsPerSecond = float64(res.Docs) / res.Seconds
		r.Indexed = b.countIndex(ctx, index)
	}
	r.IndexStats = b.indexStats(ctx, index)
	b.deleteIndex(ctx, index)
	b.add(r)
	return nil
}

func (b *bench) armB(ctx context.Context, n, round int, dir string) error {
	args := append([]string{"-arm", "B", "-keyspace", keyspaceOf(n),
		"-cassandra-host", b.st.CassandraHost, "-cassandra-port", strconv.Itoa(b.st.CassandraPort),
		"-workers", strconv.Itoa(b.cfg.Concurrency), "-ranges", strconv.Itoa(b.cfg.Ranges)}, b.profileArgs(fmt.Sprintf("B_%d_%d", n, round))...)
	res, u, err := b.child(ctx, filepath.Join(dir, fmt.Sprintf("B%d.log", round)), args...)
	r := benchRun{Arm: "B", Users: n, Round: round, Docs: res.Docs, Seconds: res.Seconds, Process: u,
		Settings: map[string]any{"workers": b.cfg.Concurrency, "ranges": b.cfg.Ranges, "rows": res.Rows}}
	if err != nil {
		r.Error = err.Error()
	} else {
		r.DocsPerSecond = float64(res.Docs) / res.Seconds
	}
	b.add(r)
	return nil
}

// runSummary is the part of indexsync's summary_<ms>.json the bench reads.
type runSummary struct {
	DurationSeconds float64 `json:"durationSeconds"`
	Succeeded       int64   `json:"succeeded"`
	Failed          int64   `json:"failed"`
	Skipped         int64   `json:"skipped"`
	DocsPerSecond   float64 `json:"docsPerSecond"`
	ExitCode        int     `json:"exitCode"`
}

func readSummary(stateDir string) (runSummary, error) {
	var s runSummary
	files, _ := filepath.Glob(filepath.Join(stateDir, "summary_*.json"))
	if len(files) == 0 {
		return s, fmt.Errorf("no summary_*.json in %s", stateDir)
	}
	slices.Sort(files)
	raw, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

func (b *bench) armT(ctx context.Context, n, round int, dir, docs string) error {
	alias := aliasOf(n, "user")
	index := fmt.Sprintf("%s_t%d", alias, round)
	if err := b.freshIndex(ctx, index, alias); err != nil {
		return err
	}
	state := filepath.Join(dir, fmt.Sprintf("T%d", round))
	args := append([]string{"run", "--target", "search", "--keyspace", keyspaceOf(n), "--user-index", alias,
		"--concurrency", strconv.Itoa(b.cfg.Concurrency), "--block-size", strconv.Itoa(b.cfg.BlockSize),
		"--bulk-bytes", strconv.FormatInt(b.cfg.BulkBytes, 10), "--ranges", b.rangesFlag(),
		"--state-dir", state}, b.connArgs(true)...)
	r := benchRun{Arm: "T", Users: n, Round: round,
		Settings: map[string]any{"concurrency": b.cfg.Concurrency, "blockSize": b.cfg.BlockSize, "bulkBytes": b.cfg.BulkBytes, "ranges": b.cfg.Ranges, "shards": b.cfg.Shards}}
	b.runIndexsync(ctx, &r, filepath.Join(dir, fmt.Sprintf("T%d.log", round)), state, args, 0)
	r.IndexStats = b.indexStats(ctx, index)
	r.Indexed = b.countIndex(ctx, index)
	if round == 1 && !b.cfg.Scale {
		b.checkDocs(ctx, n, alias, docs)
	}
	b.add(r)
	if b.cfg.runs("V") && r.Error == "" {
		b.busy = settle(b.cfg.Settle)
		b.armV(ctx, n, round, dir, alias)
	}
	if b.cfg.runs("TD") && round == 1 {
		b.busy = settle(b.cfg.Settle)
		b.armTD(ctx, n, dir, alias, "TD", 0)
	}
	if b.cfg.runs("TR") && round == 1 && r.Error == "" {
		b.busy = settle(b.cfg.Settle)
		b.armTD(ctx, n, dir, alias, "TR", r.DocsPerSecond)
	}
	b.deleteIndex(ctx, index)
	return nil
}

// armTD is T with --dry-run: T's reads, joins and documents, nothing sent.
// Beside B it shows what T's reads cost Cassandra when the engine is not
// busy on the same cores (goal 2: whether T asks Cassandra for more work
// than B, or only pays for sharing the machine). As arm TR it reads at
// rate, T's docs/s of the same size: the same reads at T's pace, which
// Cassandra serves at a higher cost per row than reads back to back (its
// request threads wake and park around every request).
func (b *bench) armTD(ctx context.Context, n int, dir, alias, arm string, rate float64) {
	state := filepath.Join(dir, arm)
	args := append([]string{"run", "--target", "search", "--dry-run", "--keyspace", keyspaceOf(n), "--user-index", alias,
		"--concurrency", strconv.Itoa(b.cfg.Concurrency), "--block-size", strconv.Itoa(b.cfg.BlockSize),
		"--ranges", b.rangesFlag(), "--state-dir", state, "--rate", strconv.FormatFloat(rate, 'f', 0, 64)}, b.connArgs(true)...)
	r := benchRun{Arm: arm, Users: n, Round: 1, Settings: map[string]any{"concurrency": b.cfg.Concurrency, "ranges": b.cfg.Ranges, "rate": math.Round(rate)}}
	defer func() { b.add(r) }()
	logPath := filepath.Join(dir, arm+".log")
	u, out, err := runProc(ctx, b.st, logPath, b.cfg.Indexsync, args...)
	r.Process = u
	if err != nil {
		r.Error = err.Error()
		return
	}
	var docs int64
	var kind string
	line := string(out)
	if i := strings.Index(line, "Dry run: "); i >= 0 {
		line = line[i:]
	}
	if _, err := fmt.Sscanf(line, "Dry run: %d %s", &docs, &kind); err != nil || u.ExitCode != 0 || docs != int64(n) {
		r.Error = fmt.Sprintf("exit %d, %d documents built of %d (log: %s)", u.ExitCode, docs, n, logPath)
		return
	}
	r.Docs, r.Seconds, r.DocsPerSecond = docs, u.WallSeconds, float64(docs)/u.WallSeconds
}

// armV runs `indexsync verify` on the index T has just written, with the
// workers T had: how long checking a sync takes against the sync itself.
// Its docs are the documents compared; a difference found is an error (T
// wrote them all).
func (b *bench) armV(ctx context.Context, n, round int, dir, alias string) {
	state := filepath.Join(dir, fmt.Sprintf("V%d", round))
	if err := os.MkdirAll(state, 0o755); err != nil {
		b.add(benchRun{Arm: "V", Users: n, Round: round, Error: err.Error()})
		return
	}
	logPath := filepath.Join(dir, fmt.Sprintf("V%d.log", round))
	args := append([]string{"verify", "--keyspace", keyspaceOf(n), "--user-index", alias,
		"--concurrency", strconv.Itoa(b.cfg.Concurrency), "--ranges", b.rangesFlag(), "--state-dir", state}, b.connArgs(true)...)
	r := benchRun{Arm: "V", Users: n, Round: round, Settings: map[string]any{"concurrency": b.cfg.Concurrency, "ranges": b.cfg.Ranges}}
	defer func() { b.add(r) }()
	u, _, err := runProc(ctx, b.st, logPath, b.cfg.Indexsync, args...)
	r.Process = u
	if err != nil {
		r.Error = err.Error()
		return
	}
	files, _ := filepath.Glob(filepath.Join(state, "verify_*.json"))
	if len(files) == 0 {
		r.Error = fmt.Sprintf("exit %d, no verify_*.json (log: %s)", u.ExitCode, logPath)
		return
	}
	raw, err := os.ReadFile(files[len(files)-1])
	var rep struct {
		DurationSeconds float64 `json:"durationSeconds"`
		CassandraDocs   int64   `json:"cassandraDocs"`
		Remaining       int     `json:"remaining"`
		WalkSeconds     float64 `json:"walkSeconds"`
		ScanSeconds     float64 `json:"scanSeconds"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &rep)
	}
	if err != nil {
		r.Error = fmt.Sprintf("read %s: %v", files[len(files)-1], err)
		return
	}
	r.Docs, r.Seconds = rep.CassandraDocs, rep.DurationSeconds
	if rep.DurationSeconds > 0 {
		r.DocsPerSecond = float64(rep.CassandraDocs) / rep.DurationSeconds
	}
	r.Settings["walkSeconds"], r.Settings["scanSeconds"] = rep.WalkSeconds, rep.ScanSeconds
	if u.ExitCode != 0 || rep.Remaining != 0 {
		r.Error = fmt.Sprintf("exit %d, %d differences (log: %s)", u.ExitCode, rep.Remaining, logPath)
	}
}

// runIndexsync runs `indexsync run` and fills r from its summary. With a
// limit, the run is stopped (SIGINT, as an operator would) once it has been
// syncing that long; its summary then covers what it did until then.
func (b *bench) runIndexsync(ctx context.Context, r *benchRun, logPath, state string, args []string, limit time.Duration) {
	p, err := startProc(ctx, b.st, logPath, b.cfg.Indexsync, args...)
	if err != nil {
		r.Error = err.Error()
		return
	}
	var stopped atomic.Bool
	if limit > 0 {
		started, exited := make(chan struct{}), make(chan struct{})
		p.watch("Total number of", started)
		defer close(exited)
		go func() {
			select {
			case <-started:
			case <-exited:
				return
			}
			select {
			case <-time.After(limit):
				stopped.Store(true)
				_ = p.signal(os.Interrupt)
			case <-exited:
			}
		}()
	}
	u, err := p.wait()
	r.Process = u
	if err != nil {
		r.Error = err.Error()
		return
	}
	s, err := readSummary(state)
	if err != nil {
		r.Error = fmt.Sprintf("exit %d: %v (log: %s)", u.ExitCode, err, logPath)
		return
	}
	r.Docs, r.Seconds, r.DocsPerSecond = s.Succeeded, s.DurationSeconds, s.DocsPerSecond
	if ok := u.ExitCode == 0 || (stopped.Load() && u.ExitCode == 130); !ok || s.Failed > 0 {
		r.Error = fmt.Sprintf("exit %d, %d failed (log: %s)", u.ExitCode, s.Failed, logPath)
	}
	if stopped.Load() {
		r.Settings["stoppedAfterSeconds"] = limit.Seconds()
	}
}

// checkDocs compares up to 1,000 documents spread over the documents file
// with what T wrote into the index, byte for byte.
func (b *bench) checkDocs(ctx context.Context, n int, alias, docs string) {
	c := docCheck{Users: n}
	defer func() { b.checks = append(b.checks, c) }()
	f, err := os.Open(docs)
	if err != nil {
		c.Differ = []string{err.Error()}
		return
	}
	defer func() { _ = f.Close() }()
	want := map[string][]byte{}
	step := max(1, n/1000)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for i := 0; sc.Scan(); i++ {
		if i%step == 0 {
			id, doc, _ := bytes.Cut(sc.Bytes(), []byte("\t"))
			want[string(id)] = bytes.Clone(doc)
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for lo := 0; lo < len(ids); lo += 250 {
		part := ids[lo:min(lo+250, len(ids))]
		got, err := b.client.MGet(ctx, alias, part)
		if err != nil {
			c.Differ = append(c.Differ, err.Error())
			return
		}
		for _, id := range part {
			c.Checked++
			if bytes.Equal(got[id], want[id]) {
				c.Identical++
			} else if len(c.Differ) < 20 {
				c.Differ = append(c.Differ, id)
			}
		}
	}
	logf("documents of %d users: %d of %d checked are byte-identical to arm A's", n, c.Identical, c.Checked)
}

// serve starts `indexsync serve` for n users on a free loopback port and
// waits until /health answers.
func (b *bench) serve(ctx context.Context, n int, logPath, state string) (*proc, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	args := append([]string{"serve", "--keyspace", keyspaceOf(n), "--user-index", aliasOf(n, "user"),
		"--org-index", aliasOf(n, "org"), "--location-index", aliasOf(n, "location"),
		"--listen", addr, "--admin-listen", "127.0.0.1:0", "--auth", "none", "--state-dir", state}, b.connArgs(true)...)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, b.st, logPath, b.cfg.Indexsync, args...)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/health")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, "http://" + addr + "/v1/data/sync", nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.signal(syscall.SIGKILL)
			_, _ = p.wait()
			return nil, "", fmt.Errorf("indexsync serve did not become healthy at %s within 30 s (log: %s)", addr, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopServe(p *proc) *usage {
	_ = p.signal(syscall.SIGTERM)
	u, err := p.wait()
	if err != nil {
		logf("indexsync serve: %v", err)
	}
	return &u
}

func (b *bench) armT2(ctx context.Context, n int, dir string) error {
	alias := aliasOf(n, "user")
	index := alias + "_t2"
	if err := b.freshIndex(ctx, index, alias); err != nil {
		return err
	}
	sp, endpoint, err := b.serve(ctx, n, filepath.Join(dir, "T2-serve.log"), filepath.Join(dir, "T2-serve"))
	if err != nil {
		return err
	}
	state := filepath.Join(dir, "T2")
	args := append([]string{"run", "--target", "api", "--keyspace", keyspaceOf(n), "--api-endpoint", endpoint,
		"--concurrency", strconv.Itoa(b.cfg.T2Conc), "--block-size", strconv.Itoa(b.cfg.T2Block), "--sleep", "0",
		"--ranges", b.rangesFlag(), "--state-dir", state}, b.connArgs(false)...)
	r := benchRun{Arm: "T2", Users: n, Round: 1,
		Settings: map[string]any{"concurrency": b.cfg.T2Conc, "blockSize": b.cfg.T2Block, "sleep": "0s", "ranges": b.cfg.Ranges, "shards": b.cfg.Shards}}
	b.runIndexsync(ctx, &r, filepath.Join(dir, "T2.log"), state, args, time.Duration(b.cfg.T2Seconds)*time.Second)
	r.Serve = stopServe(sp)
	r.IndexStats = b.indexStats(ctx, index)
	r.Indexed = b.countIndex(ctx, index)
	b.deleteIndex(ctx, index)
	b.add(r)
	return nil
}

// armTB is T2 in background mode (no operationType): serve answers each
// call once its ids are in its journal and indexes them in its own time.
// The run is stopped as T2 is; then serve is stopped (SIGTERM drains its
// queue), and docs/s is what the index holds / from the run's start to
// serve's exit: ids accepted but not yet indexed do not count.
func (b *bench) armTB(ctx context.Context, n int, dir string) error {
	alias := aliasOf(n, "user")
	index := alias + "_tb"
	if err := b.freshIndex(ctx, index, alias); err != nil {
		return err
	}
	sp, endpoint, err := b.serve(ctx, n, filepath.Join(dir, "TB-serve.log"), filepath.Join(dir, "TB-serve"))
	if err != nil {
		return err
	}
	state := filepath.Join(dir, "TB")
	args := append([]string{"run", "--target", "api", "--request-mode", "background", "--keyspace", keyspaceOf(n), "--api-endpoint", endpoint,
		"--concurrency", strconv.Itoa(b.cfg.T2Conc), "--block-size", strconv.Itoa(b.cfg.T2Block), "--sleep", "0",
		"--ranges", b.rangesFlag(), "--state-dir", state}, b.connArgs(false)...)
	r := benchRun{Arm: "TB", Users: n, Round: 1,
		Settings: map[string]any{"concurrency": b.cfg.T2Conc, "blockSize": b.cfg.T2Block, "sleep": "0s", "requestMode": "background", "ranges": b.cfg.Ranges, "shards": b.cfg.Shards}}
	start := time.Now()
	b.runIndexsync(ctx, &r, filepath.Join(dir, "TB.log"), state, args, time.Duration(b.cfg.T2Seconds)*time.Second)
	accepted := r.Docs
	r.Serve = stopServe(sp)
	r.Seconds = time.Since(start).Seconds()
	r.IndexStats = b.indexStats(ctx, index)
	r.Indexed = b.countIndex(ctx, index)
	r.Docs = r.Indexed
	r.DocsPerSecond = float64(r.Indexed) / r.Seconds
	r.Settings["accepted"] = accepted
	b.deleteIndex(ctx, index)
	b.add(r)
	return nil
}

// startC starts arm C: the old job's settings (block 100, sleep 10 s, one
// worker) against its own serve, stopped as an operator would (SIGINT) once
// its loop has run for BENCH_C_SECONDS; users/s = ids synced / that time.
// The clock starts when indexsync prints the total (after counting), so the
// window holds only the block-and-sleep loop. finish waits for the arm and
// records it. C sleeps 99% of the time, so it may overlap work that is not
// measured (seeding the next size) without changing its result.
func (b *bench) startC(ctx context.Context, n int, dir string) (finish func() error, err error) {
	alias := aliasOf(n, "user")
	index := alias + "_c"
	if err := b.freshIndex(ctx, index, alias); err != nil {
		return nil, err
	}
	sp, endpoint, err := b.serve(ctx, n, filepath.Join(dir, "C-serve.log"), filepath.Join(dir, "C-serve"))
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "C")
	args := append([]string{"run", "--target", "api", "--keyspace", keyspaceOf(n), "--api-endpoint", endpoint,
		"--concurrency", "1", "--block-size", "100", "--sleep", "10s", "--state-dir", state}, b.connArgs(false)...)
	logf("arm C: the old job's block 100, sleep 10 s, for %d s", b.cfg.CSeconds)
	r := benchRun{Arm: "C", Users: n, Round: 1, Seconds: float64(b.cfg.CSeconds), BusyBefore: b.busy,
		Settings: map[string]any{"concurrency": 1, "blockSize": 100, "sleep": "10s", "seconds": b.cfg.CSeconds}}
	started := make(chan struct{})
	p, err := startProc(ctx, b.st, filepath.Join(dir, "C.log"), b.cfg.Indexsync, args...)
	if err != nil {
		stopServe(sp)
		return nil, err
	}
	p.watch("Total number of", started)
	done := make(chan struct{})
	go func() {
		select {
		case <-started:
		case <-time.After(2 * time.Minute): // never printed: stop it anyway
		case <-ctx.Done():
		}
		select {
		case <-time.After(time.Duration(b.cfg.CSeconds) * time.Second):
		case <-ctx.Done():
		}
		_ = p.signal(os.Interrupt)
		var err error
		r.Process, err = p.wait()
		r.Serve = stopServe(sp)
		if err != nil {
			r.Error = err.Error()
		} else if s, err := readSummary(state); err != nil {
			r.Error = err.Error()
		} else {
			r.Docs = s.Succeeded
			r.DocsPerSecond = float64(s.Succeeded) / float64(b.cfg.CSeconds)
			if r.Process.ExitCode != 130 && r.Process.ExitCode != 0 {
				r.Error = fmt.Sprintf("exit %d (want 130 after SIGINT)", r.Process.ExitCode)
			}
		}
		close(done)
	}()
	return func() error {
		<-done
		b.deleteIndex(ctx, index)
		busy := b.busy
		b.busy = r.BusyBefore
		b.add(r)
		b.busy = busy
		return ctx.Err()
	}, nil
}
