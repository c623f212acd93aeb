package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/indexer"
	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/progress"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/source"
	"github.com/indexsync/indexsync/internal/statedir"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
	"github.com/indexsync/indexsync/internal/verify"
)

type verifyOptions struct {
	Cassandra     config.Cassandra
	Search        config.Search
	ObjectType    string
	StateDir      string
	Concurrency   int
	BatchSize     int
	Ranges        int
	Shard         string
	Repair        bool
	DeleteOrphans bool
	MaxPrint      int
	Retries       int

	kind  sunbird.Kind
	shard syncjob.Shard

	// --delete-consistency, and what it names
	DeleteConsistency string
	deleteCons        cassandra.Consistency
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Args:  cobra.NoArgs,
		Short: "Compare Cassandra with the index; --repair fixes the differences",
		Long: `verify scans Cassandra by token ranges, builds every document as a sync would
(the same builder as run --target search), fetches the indexed documents in
batches with _mget and compares them: ids missing from the index, and ids
whose document differs (stale). It then walks every id in the index and asks
Cassandra which still exist: the others are orphans.

It prints a short table and writes verify_<ms>.json into --state-dir with the
counts and every id. --repair re-syncs missing and stale ids, --delete-orphans
deletes orphans; both re-check what they touched and report what remains.
Before a document is deleted, Cassandra is asked again whether its row is
gone, at --delete-consistency (LOCAL_QUORUM): a replica that missed a write
must not decide alone.

Exit codes: 0 in sync, 1 differences found (with --repair or
--delete-orphans: differences that remain), 2 usage, 3 cannot connect,
4 stopped by an error mid-way, 130 interrupted.`,
		Example: `  indexsync verify                                   # users; report in ./verify_<ms>.json
  indexsync verify --object-type organisation
  indexsync verify --repair --delete-orphans --state-dir /var/lib/indexsync
  indexsync verify --shard 0/4 --concurrency 8`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.finalize(); err != nil {
				return err
			}
			return runVerify(cmd.Context(), g, &o)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	o.Search.AddFlags(fs)
	fs.StringVar(&o.ObjectType, "object-type", sunbird.UserKind.Name, "what to verify: "+sunbird.KindNames())
	fs.StringVar(&o.StateDir, "state-dir", ".", "where verify_<ms>.json goes")
	fs.Var(config.AutoInt{N: &o.Concurrency}, "concurrency", fmt.Sprintf("parallel range scans, and parallel _mget / existence checks, 1 to %d (auto: 2 × cores)", syncjob.MaxConcurrency))
	fs.IntVar(&o.BatchSize, "batch-size", 500, "ids per _mget request (and per repair block)")
	fs.Var(config.AutoInt{N: &o.Ranges}, "ranges", fmt.Sprintf("token ranges to split the scan into, 1 to %d (auto: 32 per worker, at least 256)", syncjob.MaxRanges))
	fs.StringVar(&o.Shard, "shard", "", "I/N: only the I-th (0-based) of N slices of the token ring; orphans are checked for the index ids whose token falls in it")
	fs.BoolVar(&o.Repair, "repair", false, "re-sync missing and stale ids, then re-check them")
	fs.BoolVar(&o.DeleteOrphans, "delete-orphans", false, "delete orphan documents from the index, then re-check them")
	fs.StringVar(&o.DeleteConsistency, "delete-consistency", verify.DefaultDeleteConsistency, "consistency of the check, just before a document is deleted, that its row is gone (whatever --cassandra-consistency the scan reads at): a replica that missed a write must not decide")
	fs.IntVar(&o.MaxPrint, "max-print", 10, "ids printed per list on the console (the file has them all)")
	fs.IntVar(&o.Retries, "retries", 5, "retries per search request, with exponential backoff and jitter")
	return cmd
}

func (o *verifyOptions) finalize() error {
	errs := []error{o.Cassandra.Finalize(), o.Search.Finalize()}
	var ok bool
	if o.kind, ok = sunbird.KindNamed(o.ObjectType); !ok {
		errs = append(errs, fmt.Errorf("--object-type %q: use %s", o.ObjectType, sunbird.KindNames()))
	}
	if o.Concurrency == 0 {
		o.Concurrency = 2 * cores()
	}
	if o.Ranges == 0 {
		o.Ranges = min(max(256, 32*o.Concurrency), syncjob.MaxRanges)
	}
	errs = append(errs,
		config.Bound("--concurrency", o.Concurrency, 1, syncjob.MaxConcurrency),
		config.Bound("--batch-size", o.BatchSize, 1, syncjob.MaxBlockSize),
		config.Bound("--ranges", o.Ranges, 1, syncjob.MaxRanges),
		config.Bound("--max-print", o.MaxPrint, 0, 1000000),
		config.Bound("--retries", o.Retries, 0, syncjob.MaxRetries))
	var err error
	if o.deleteCons, err = cassandra.ParseConsistency(o.DeleteConsistency); err != nil || o.DeleteConsistency == "" || strings.EqualFold(o.DeleteConsistency, "ANY") {
		errs = append(errs, fmt.Errorf("--delete-consistency %q: use LOCAL_QUORUM (the default), QUORUM, ALL, or LOCAL_ONE/ONE to check at the scan's level", o.DeleteConsistency))
	}
	if o.shard, err = syncjob.ParseShard(o.Shard); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, statedir.Prepare(o.StateDir))
	return config.Join(errs...)
}

func runVerify(ctx context.Context, g *globalOptions, o *verifyOptions) error {
	log := g.logger.With("component", "verify")
	started := time.Now()
	runMS := started.UnixMilli()

	// Connections: failures here are exit 3.
	sess, err := connectCassandra(ctx, o.Cassandra, true)
	if err != nil {
		return err
	}
	defer sess.CloseWithin(closeWait)
	client, info, err := connectSearch(ctx, o.Search, o.Retries, log)
	if err != nil {
		return err
	}
	index, warning, err := checkVerifyIndex(ctx, client, &o.Search, o.kind)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintf(g.stderr, "indexsync: warning: %s\n", warning)
	}
	log.Info("search engine", "engine", info.String(), "index", index)

	// The scan: the same ranges and source as run --target search.
	units, ringErr := source.PlanRanges(ctx, sess, o.shard, o.Ranges)
	if ringErr != nil {
		log.Warn("could not read the ring's tokens; splitting the ring evenly", "err", ringErr)
	}
	src, err := source.For(ctx, sess, o.Cassandra.Keyspace, o.kind, syncjob.SearchTarget, o.Concurrency, log)
	if err != nil {
		return err
	}
	keys := &verify.CassandraKeys{Session: sess, Keyspace: o.Cassandra.Keyspace, Table: o.kind.Table, Key: o.kind.Key, Consistency: o.deleteCons}

	est, _ := sess.EstimatePartitions(ctx, o.Cassandra.Keyspace, o.kind.Table, []cassandra.Range{cassandra.Shard(o.shard.I, o.shard.N)})
	scanBar := progress.New(progress.Options{Mode: g.Progress, Out: os.Stderr, Total: est, TotalSource: "estimated from system.size_estimates",
		Label: "comparing " + o.ObjectType + "s", Log: log})
	phase := time.Now()
	found, cmpErr := verify.Compare(ctx, verify.Config{
		Index:       index,
		Units:       units,
		Source:      src,
		Search:      client,
		Concurrency: o.Concurrency,
		BatchSize:   o.BatchSize,
		SpillDir:    o.StateDir,
		HeadIDs:     max(o.MaxPrint, 1),
		OnScanned:   func(n int) { scanBar.Add(int64(n)) },
	})
	scanBar.Finish()
	defer func() { _ = found.Close() }() // spill files only
	if cmpErr == nil {
		log.Info("compared", "cassandra", found.CassandraDocs, "index", found.IndexDocs, "missing", found.Missing.Len(),
			"stale", found.Stale.Len(), "orphans", found.Orphans.Len(), "took", time.Since(phase).Round(time.Millisecond),
			"walk", found.WalkTime.Round(time.Millisecond), "scan", found.ScanTime.Round(time.Millisecond))
	}

	// The repair.
	var repaired *verify.RepairResult
	runErr := cmpErr
	if cmpErr == nil && (o.Repair || o.DeleteOrphans) && found.Differences() > 0 {
		phase = time.Now()
		repaired, runErr = verify.Repair(ctx, verify.RepairConfig{
			Kind:          o.kind,
			Index:         index,
			Docs:          store.New(sess, o.Cassandra.Keyspace, store.Options{}),
			Writer:        &indexer.Writer{Client: client, Indexes: indexer.Indexes(o.Search.Indexes), MaxDocs: o.BatchSize},
			Bulk:          client,
			Search:        client,
			Keys:          keys,
			Resync:        o.Repair,
			DeleteOrphans: o.DeleteOrphans,
			BatchSize:     o.BatchSize,
			Concurrency:   o.Concurrency,
			SpillDir:      o.StateDir,
			HeadIDs:       max(o.MaxPrint, 1),
		}, found)
		if repaired != nil {
			defer func() { _ = repaired.Close() }()
		}
		if runErr == nil {
			log.Info("repaired", "written", repaired.Repaired, "deleted", repaired.Deleted, "failed", repaired.Failed,
				"remaining", repaired.Remaining.Len(), "took", time.Since(phase).Round(time.Millisecond))
		}
	}

	// The report and the exit code.
	rep := verify.NewReport(found, repaired, o.Repair, o.DeleteOrphans)
	rep.ObjectType, rep.Keyspace, rep.Index = o.ObjectType, o.Cassandra.Keyspace, index
	if warning != "" {
		rep.Warnings = append(rep.Warnings, warning)
	}
	rep.Shard = o.shard.String()
	rep.Started, rep.Finished = started, time.Now()
	rep.DurationSeconds = rep.Finished.Sub(started).Seconds()
	rep.Complete = runErr == nil
	var endErr error
	switch {
	case runErr != nil && ctx.Err() != nil:
		rep.Error = "interrupted"
		endErr = fmt.Errorf("verify interrupted: %w", context.Canceled)
	case runErr != nil:
		rep.Error = runErr.Error()
		// a connection lost mid-way is a stop mid-way, not "cannot connect"
		endErr = outcome.As(outcome.Fatal, fmt.Errorf("verify stopped: %v", runErr))
	case rep.Remaining > 0:
		endErr = outcome.ErrSomeFailed
	}
	class := outcome.Of(ctx, endErr)
	rep.ExitCode = exitCodeOf(class)
	path, werr := rep.WriteFile(o.StateDir, runMS)
	rep.Print(g.stdout, o.MaxPrint, path)
	if werr != nil {
		// the console still has the counts and the first ids
		log.Error("could not write the report", "err", werr)
	}
	switch class {
	case outcome.OK:
		return nil
	case outcome.SomeFailed:
		fmt.Fprintf(g.stderr, "indexsync: %s\n", remainingMessage(rep, index, path, o))
		return endErr
	}
	return fmt.Errorf("%w (%s; run it again)", endErr, reportNote(path, "what it found so far is in "))
}

// remainingMessage is the one-line reason for exit 1, with what to do.
func remainingMessage(rep *verify.Report, index, path string, o *verifyOptions) string {
	if rep.Repair == nil {
		fix := "--repair --delete-orphans"
		if rep.Orphans == 0 {
			fix = "--repair"
		} else if rep.Missing+rep.Stale == 0 {
			fix = "--delete-orphans"
		}
		return fmt.Sprintf("%d differences between Cassandra and %s (%d missing, %d stale, %d orphans); %s (fix them with verify %s)",
			rep.Remaining, index, rep.Missing, rep.Stale, rep.Orphans, reportNote(path, "the ids are in "), fix)
	}
	var hint []string
	if !o.Repair && rep.Missing+rep.Stale > 0 {
		hint = append(hint, "add --repair to re-sync missing and stale ids")
	}
	if !o.DeleteOrphans && rep.Orphans > 0 {
		hint = append(hint, "add --delete-orphans to delete orphans")
	}
	if rep.Repair.Failed > 0 {
		hint = append(hint, fmt.Sprintf("%d writes or deletes failed (failureReasons in the report)", rep.Repair.Failed))
	}
	if rep.Repair.Kept > 0 {
		hint = append(hint, fmt.Sprintf("%d orphans were kept: checked at --delete-consistency %s, their row exists (a replica had missed it, or it came back); run verify --repair", rep.Repair.Kept, o.DeleteConsistency))
	}
	if len(hint) == 0 {
		hint = append(hint, "they changed while being repaired: run verify again")
	}
	return fmt.Sprintf("%d differences remain between Cassandra and %s; %s (%s)", rep.Remaining, index, reportNote(path, "the ids are in "), strings.Join(hint, "; "))
}

// reportNote points to the report, or says it could not be written.
func reportNote(path, prefix string) string {
	if path == "" {
		return "the report could not be written, see the log"
	}
	return prefix + path
}

// checkVerifyIndex makes sure the index exists and returns the one concrete
// index to compare: _mget through an alias over several indexes fails. An
// alias on several indexes with a write index is compared through that
// index, with a warning: Sunbird's searches read every index behind the
// alias, so the others show their stale copies beside the current ones.
func checkVerifyIndex(ctx context.Context, c *search.Client, s *config.Search, kind sunbird.Kind) (index, warning string, err error) {
	index, flag, err := requireIndex(ctx, c, s, kind)
	if err != nil {
		return index, "", err
	}
	behind, err := c.AliasIndexes(ctx, index)
	if err != nil || len(behind) < 2 {
		return index, "", err
	}
	names := make([]string, len(behind))
	write := ""
	for i, b := range behind {
		names[i] = b.Name
		if b.IsWriteIndex {
			write = b.Name
		}
	}
	if write == "" {
		return index, "", config.Usagef("alias %s points to %d indexes (%s) and none is its write index: every write through it fails, Sunbird's included. Keep one index behind the alias (POST /_aliases with a remove action), or give one index with %s", index, len(behind), strings.Join(names, ", "), flag)
	}
	warning = fmt.Sprintf("alias %s points to %d indexes (%s): Sunbird's searches read all of them, writes go to %s (its write index). Comparing %s; remove the others from the alias (POST /_aliases with a remove action)", index, len(behind), strings.Join(names, ", "), write, write)
	return write, warning, nil
}
