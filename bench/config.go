package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/config"
)

// benchArms are the arms BENCH_ARMS may name, all run by default (P comes
// with BENCH_PEER).
var benchArms = []string{"A", "B", "T", "V", "TD", "TR", "T2", "TB", "C"}

// benchConfig is a whole bench, from BENCH_* environment variables.
type benchConfig struct {
	Users       int           `json:"users"`       // BENCH_USERS: the large size
	SmallUsers  int           `json:"smallUsers"`  // BENCH_SMALL_USERS: the small size (BENCH_USERS/10; 0: none)
	Rounds      int           `json:"rounds"`      // BENCH_ROUNDS: runs of A, B and T each, interleaved
	Concurrency int           `json:"concurrency"` // BENCH_CONCURRENCY: T's workers, and A's and B's (indexsync's default)
	BlockSize   int           `json:"blockSize"`   // BENCH_BLOCK_SIZE: documents per bulk request, T and A
	BulkBytes   int64         `json:"bulkBytes"`   // BENCH_BULK_BYTES: bulk byte cap, T and A
	Ranges      int           `json:"ranges"`      // BENCH_RANGES: token ranges, T and B (0: indexsync's default)
	Shards      int           `json:"shards"`      // BENCH_SHARDS: primary shards of the user index (-1: Sunbird's 5)
	T2Conc      int           `json:"t2Concurrency"`
	T2Block     int           `json:"t2BlockSize"`
	T2Seconds   int           `json:"t2Seconds"`  // BENCH_T2_SECONDS: T2 is stopped after syncing this long (0: runs to the end)
	CSeconds    int           `json:"cSeconds"`   // BENCH_C_SECONDS: how long arm C runs
	Arms        []string      `json:"arms"`       // BENCH_ARMS: which arms run (A,B,T,V,TD,TR,T2,TB,C), plus P with BENCH_PEER
	Scale       bool          `json:"scale"`      // BENCH_SCALE: the memory check at 200,000 and 2,000,000 users (T only, keyspaces kept)
	Peer        string        `json:"peer"`       // BENCH_PEER: "spark" adds arm P, the Spark job of bench/spark
	SparkOpts   []string      `json:"sparkOpts"`  // BENCH_SPARK_OPTS: JVM flags for P after the bench's own (-Xmx, -Dspark.*=…)
	Refresh     string        `json:"refresh"`    // BENCH_REFRESH: refresh_interval of the fresh indexes ("": the mapping's, 1s)
	Settle      time.Duration `json:"settle"`     // BENCH_SETTLE: longest wait for a quiet machine before each arm
	Keep        bool          `json:"keep"`       // BENCH_KEEP: keep keyspaces, indexes and documents files
	Pin         bool          `json:"pin"`        // BENCH_PIN: search engine on one half of the cores, everything else on the other
	ProfileDir  string        `json:"profileDir"` // BENCH_PROFILE_DIR: CPU profiles of A, B (and T under perf)
	Budget      time.Duration `json:"budget"`     // BENCH_BUDGET: arms not started once this is spent are skipped
	Indexsync   string        `json:"indexsync"`  // BENCH_INDEXSYNC: the binary under test
	OutDir      string        `json:"outDir"`     // bench/out
	Results     string        `json:"results"`    // BENCH_RESULTS: bench/results.json
	Engine      string        `json:"engine"`     // BENCH_ENGINE: the stack's engine (STACK_ENGINE), opensearch-2.19 by default
}

func loadConfig() (benchConfig, error) {
	c := benchConfig{
		Users:       200_000,
		Rounds:      3,
		Concurrency: 2 * runtime.NumCPU(), // indexsync run's default in search mode
		BlockSize:   500,                  // indexsync run's default in search mode
		BulkBytes:   5 << 20,
		Shards:      -1,
		T2Conc:      8,
		T2Block:     100,
		T2Seconds:   40,
		CSeconds:    60,
		Budget:      10 * time.Minute,
		Arms:        slices.Clone(benchArms),
		Settle:      2 * time.Second,
		Indexsync:   "bin/indexsync",
		OutDir:      "bench/out",
		Results:     "bench/results.json",
		Engine:      "opensearch-2.19",
	}
	var errs []error
	intVar := func(name string, dst *int, min int) {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s=%q: give a whole number of at least %d", name, v, min))
			return
		}
		*dst = n
	}
	if v := os.Getenv("BENCH_SCALE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_SCALE=%q: give 1 or 0", v))
		}
		if c.Scale = b; b {
			// The memory check: the same run at 200,000 and 2,000,000 users,
			// keyspaces kept so that the 2,000,000 are seeded once. Other
			// BENCH_* variables still apply on top.
			c.Users, c.Rounds, c.Arms, c.Keep = 2_000_000, 1, []string{"T"}, true
			c.Budget, c.Results = 3*time.Hour, "bench/results-scale.json"
		}
	}
	intVar("BENCH_USERS", &c.Users, 1)
	c.SmallUsers = c.Users / 10
	intVar("BENCH_SMALL_USERS", &c.SmallUsers, 0)
	intVar("BENCH_ROUNDS", &c.Rounds, 1)
	intVar("BENCH_CONCURRENCY", &c.Concurrency, 1)
	intVar("BENCH_BLOCK_SIZE", &c.BlockSize, 1)
	intVar("BENCH_RANGES", &c.Ranges, 0)
	intVar("BENCH_SHARDS", &c.Shards, -1)
	intVar("BENCH_T2_CONCURRENCY", &c.T2Conc, 1)
	intVar("BENCH_T2_BLOCK_SIZE", &c.T2Block, 1)
	intVar("BENCH_C_SECONDS", &c.CSeconds, 0)
	intVar("BENCH_T2_SECONDS", &c.T2Seconds, 0)
	if v := os.Getenv("BENCH_BULK_BYTES"); v != "" {
		n, err := config.ParseByteSize(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_BULK_BYTES: %w", err))
		}
		c.BulkBytes = n
	}
	if v := os.Getenv("BENCH_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("BENCH_BUDGET=%q: give a duration such as 10m", v))
		}
		c.Budget = d
	}
	if v := os.Getenv("BENCH_KEEP"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_KEEP=%q: give 1 or 0", v))
		}
		c.Keep = b
	}
	if v := os.Getenv("BENCH_PIN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_PIN=%q: give 1 or 0", v))
		}
		c.Pin = b
	}
	if v := os.Getenv("BENCH_INDEXSYNC"); v != "" {
		c.Indexsync = v
	}
	if v := os.Getenv("BENCH_RESULTS"); v != "" {
		c.Results = v
	}
	if v := os.Getenv("BENCH_ENGINE"); v != "" {
		c.Engine = v
	}
	c.ProfileDir = os.Getenv("BENCH_PROFILE_DIR")
	c.Refresh = os.Getenv("BENCH_REFRESH")
	if v := os.Getenv("BENCH_ARMS"); v != "" {
		c.Arms = nil
		for _, a := range strings.Split(v, ",") {
			a = strings.ToUpper(strings.TrimSpace(a))
			if !slices.Contains(benchArms, a) {
				errs = append(errs, fmt.Errorf("BENCH_ARMS: unknown arm %q (use %s; arm P runs with BENCH_PEER=spark)", a, strings.Join(benchArms, ", ")))
			}
			c.Arms = append(c.Arms, a)
		}
	}
	switch c.Peer = os.Getenv("BENCH_PEER"); c.Peer {
	case "":
	case "spark":
		c.Arms = append(c.Arms, "P")
	default:
		errs = append(errs, fmt.Errorf("BENCH_PEER=%q: the one peer is spark (or leave it unset)", c.Peer))
	}
	c.SparkOpts = strings.Fields(os.Getenv("BENCH_SPARK_OPTS"))
	if v := os.Getenv("BENCH_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("BENCH_SETTLE=%q: give a duration such as 10s", v))
		}
		c.Settle = d
	}
	if c.SmallUsers >= c.Users {
		errs = append(errs, fmt.Errorf("BENCH_SMALL_USERS=%d must be below BENCH_USERS=%d (0 skips the small size)", c.SmallUsers, c.Users))
	}
	if _, err := os.Stat(c.Indexsync); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (run `make build`, or `make bench`, which builds it)", c.Indexsync, err))
	}
	if _, err := os.Stat("testinfra/stack.sh"); err != nil {
		errs = append(errs, errors.New("run the bench from the repository root (`make bench`): testinfra/stack.sh not found"))
	}
	return c, errors.Join(errs...)
}

// sizes returns the user counts to bench, small first.
func (c benchConfig) sizes() []int {
	if c.SmallUsers > 0 {
		return []int{c.SmallUsers, c.Users}
	}
	return []int{c.Users}
}

// runs reports whether arm is one of BENCH_ARMS.
func (c benchConfig) runs(arm string) bool { return slices.Contains(c.Arms, arm) }
