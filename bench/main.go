// Command bench is `make bench`: it measures `indexsync run` against the
// ceilings of the machine it runs on, on the local Cassandra + search engine
// stack, and prints a table of docs/s, peak RSS and the ratios that
// the performance targets (bench/README.md) are stated in; bench/results.json keeps
// every raw run.
//
// The arms (bench/README.md has the details):
//
//	A   raw bulk load of the prebuilt documents: the indexing ceiling
//	B   bare parallel token-range scan of the three user tables: the read ceiling
//	T   indexsync run --target search
//	T2  indexsync run --target api against indexsync serve, sleep 0
//	C   the old job's settings (block 100, sleep 10 s) for a fixed time
//
// A and B run as child processes of this binary (`bench -arm A|B …`) so that
// their CPU time and peak RSS are measured exactly as indexsync's are: from
// the rusage of the process when it exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func run() error {
	var c childOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.Arm, "arm", "", "run one child arm and print its result as JSON: A (bulk load), B (scan) or dump (write the documents file)")
	fs.StringVar(&c.Docs, "docs", "", "A: documents file to load; dump: file to write")
	fs.StringVar(&c.Index, "index", "", "A: index to load")
	fs.StringVar(&c.SearchURL, "search-url", "http://127.0.0.1:9200", "A: search engine URL")
	fs.StringVar(&c.Hosts, "cassandra-host", "127.0.0.1", "B, dump: Cassandra host (credentials from INDEXSYNC_CASSANDRA_USERNAME/PASSWORD)")
	fs.IntVar(&c.Port, "cassandra-port", 9042, "B, dump: Cassandra port")
	fs.StringVar(&c.Keyspace, "keyspace", "", "B, dump: keyspace")
	fs.IntVar(&c.Workers, "workers", 4, "parallel workers (bulk requests in flight, or token ranges read at once)")
	fs.IntVar(&c.Ranges, "ranges", 0, "B, dump: token ranges (0: as indexsync run, max(256, 32 × workers))")
	fs.IntVar(&c.Block, "block", 100, "A: documents per bulk request")
	fs.Int64Var(&c.BulkBytes, "bulk-bytes", 5<<20, "A: largest bulk request, in bytes of documents")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the arm to this file")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (settings of a whole bench come from BENCH_* variables; see bench/README.md)", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Arm != "" {
		if c.Workers < 1 {
			return fmt.Errorf("-workers %d: give at least 1", c.Workers)
		}
		return runChild(ctx, c)
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	return runBench(ctx, cfg)
}
