package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/indexer"
	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/progress"
	"github.com/indexsync/indexsync/internal/runlog"
	"github.com/indexsync/indexsync/internal/runmetrics"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/source"
	"github.com/indexsync/indexsync/internal/statedir"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/syncjob"
	"github.com/indexsync/indexsync/internal/target"
)

// runOptions are the flags of indexsync run; finalize turns them into a
// checked syncjob.Spec.
type runOptions struct {
	Cassandra     config.Cassandra
	Search        config.Search
	API           config.API
	ObjectType    string
	Target        string
	RequestMode   string
	BlockSize     int
	BulkBytes     int64
	Sleep         string
	Rate          float64
	Concurrency   int
	IDsFile       string
	StateDir      string
	Resume        string
	Shard         string
	Rebuild       bool
	Mapping       string
	IndexShards   int
	IndexReplicas int
	DeleteOld     bool
	CatchUp       int
	DryRun        bool
	Retries       int
	Ranges        int
	MetricsListen string
	ContextParams []string

	spec syncjob.Spec
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Args:  cobra.NoArgs,
		Short: "Sync every user (or the ids in a file) from Cassandra to the index",
		Long: `run reads the ids (or whole rows) of a table with parallel token-range scans
and sends them in blocks to the Sync API (--target api, the old job's way) or
writes documents straight to the search engine (--target search). Progress is
checkpointed per block: --resume continues an interrupted run, --resume auto
continues it only when there is one of the same settings.

The old job's arguments work unchanged: --context_param name=value, for
sunbird_cassandra_server, sunbird_cassandra_port, sunbird_cassandra_username,
sunbird_cassandra_password, sunbird_user_sync_api_endpoint,
sunbird_user_sync_api_key, sunbird_user_sync_block_size,
sunbird_user_sync_sleep_time and sunbird_cassandra_keyspace.`,
		Example: `  indexsync run --api-endpoint http://sync:9000/v1/data/sync      # key in INDEXSYNC_API_KEY
  indexsync run --target search --concurrency 8
  indexsync run --ids-file failed-ids_1764100000000.txt
  indexsync run --resume auto --state-dir /var/lib/indexsync`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.finalize(); err != nil {
				return err
			}
			return runRun(cmd.Context(), g, &o)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	o.Search.AddFlags(fs)
	o.API.AddFlags(fs)
	fs.StringVar(&o.ObjectType, "object-type", sunbird.UserKind.Name, "what to sync: "+sunbird.KindNames())
	fs.StringVar(&o.Target, "target", "api", "api (POST ids to the Sync API) or search (write documents to the search engine)")
	fs.StringVar(&o.RequestMode, "request-mode", "sync", `api target: "sync" adds operationType "sync" and reads per-id results; "background" sends the old body as is`)
	fs.Var(config.AutoInt{N: &o.BlockSize}, "block-size", fmt.Sprintf("ids per API call, or documents per bulk request, 1 to %d (auto: %d for api, %d for search)", syncjob.MaxBlockSize, syncjob.DefaultAPIBlockSize, syncjob.DefaultSearchBlockSize))
	o.BulkBytes = indexer.DefaultMaxBytes
	fs.Var(config.ByteSize{N: &o.BulkBytes}, "bulk-bytes", "largest bulk request (search target)")
	fs.StringVar(&o.Sleep, "sleep", "0s", "pause between a worker's API calls: a duration (10s) or milliseconds (10000)")
	fs.Float64Var(&o.Rate, "rate", 0, "most documents per second, --dry-run too (0: no limit)")
	fs.Var(config.AutoInt{N: &o.Concurrency}, "concurrency", fmt.Sprintf("parallel calls / bulk workers, 1 to %d (auto: 1 for api, 2 × cores for search)", syncjob.MaxConcurrency))
	fs.StringVar(&o.IDsFile, "ids-file", "", "sync only these ids: one a line, a failed-ids file, or an old job's failure log")
	fs.StringVar(&o.StateDir, "state-dir", ".", "where logs, the checkpoint and the summary go")
	fs.StringVar(&o.Resume, "resume", "", "continue the interrupted run in --state-dir; --resume auto: continue it when there is one of the same settings, else start afresh")
	fs.Lookup("resume").NoOptDefVal = "true"
	fs.StringVar(&o.Shard, "shard", "", "I/N: only the I-th (0-based) of N slices of the token ring")
	fs.BoolVar(&o.Rebuild, "rebuild", false, "search target: load a fresh index and swap the alias when done")
	fs.StringVar(&o.Mapping, "mapping", "", "with --rebuild: the new index's mappings and settings: empty copies the index behind the alias (ours when there is none), builtin uses ours, or a file with a create-index body")
	fs.IntVar(&o.IndexShards, "index-shards", -1, "with --rebuild: primary shards of the new index (-1: those of the index it replaces)")
	fs.IntVar(&o.IndexReplicas, "index-replicas", -1, "with --rebuild: replicas of the new index once loaded (-1: those of the index it replaces)")
	fs.BoolVar(&o.DeleteOld, "delete-old", false, "with --rebuild: delete the previous index after the swap")
	fs.IntVar(&o.CatchUp, "catch-up", catchUpAround, "with --rebuild: passes that re-sync into the new index the writes made while it loaded: 2 = before and after the alias moves, 1 = after only, 0 = none (writes made during the rebuild may be lost)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "scan and count, build documents or request bodies, send nothing")
	fs.IntVar(&o.Retries, "retries", 5, "retries per call or bulk item, with exponential backoff and jitter")
	fs.Var(config.AutoInt{N: &o.Ranges}, "ranges", fmt.Sprintf("token ranges to split the scan into, 1 to %d (auto: 32 per worker, at least 256)", syncjob.MaxRanges))
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus metrics of the run on this address (e.g. :9102)")
	fs.StringArrayVar(&o.ContextParams, "context_param", nil, "the old job's parameters: name=value (see above)")
	return cmd
}

// joinResumeValue lets --resume take its value as the next argument
// ("--resume auto") although a bare --resume means "true": pflag never
// reads the next argument of a flag that has a value of its own when bare.
func joinResumeValue(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "--resume" && i+1 < len(args) {
			if v := strings.ToLower(args[i+1]); v == "auto" || v == "true" || v == "false" {
				out = append(out, "--resume="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, args[i])
	}
	return out
}

// finalize checks the flags and builds the run's spec, reporting every
// problem at once.
func (o *runOptions) finalize() error {
	old, err := config.ApplyContextParams(o.ContextParams, &o.Cassandra, &o.API)
	if err != nil {
		return err
	}
	if old.BlockSize != 0 {
		o.BlockSize = old.BlockSize
	}
	errs := []error{o.Cassandra.Finalize()}
	s := syncjob.Spec{
		Keyspace: o.Cassandra.Keyspace, IDsFile: o.IDsFile, BlockSize: o.BlockSize, BlockBytes: int(min(o.BulkBytes, syncjob.MaxBulkBytes+1)),
		Concurrency: o.Concurrency, Ranges: o.Ranges, Retries: o.Retries, Rate: o.Rate,
		Rebuild: o.Rebuild, DeleteOld: o.DeleteOld, DryRun: o.DryRun,
	}
	var ok bool
	if s.Kind, ok = sunbird.KindNamed(o.ObjectType); !ok {
		errs = append(errs, fmt.Errorf("--object-type %q: use %s", o.ObjectType, sunbird.KindNames()))
	}
	if s.Target, err = syncjob.ParseTarget(o.Target); err != nil {
		errs = append(errs, err)
	}
	switch s.Target {
	case syncjob.APITarget:
		errs = append(errs, o.API.Finalize())
	case syncjob.SearchTarget:
		errs = append(errs, o.Search.Finalize())
		s.Index, _ = o.Search.Index(s.Kind)
	}
	if s.RequestMode, err = syncjob.ParseRequestMode(o.RequestMode); err != nil {
		errs = append(errs, err)
	}
	if s.Resume, err = syncjob.ParseResume(o.Resume); err != nil {
		errs = append(errs, err)
	}
	if s.Shard, err = syncjob.ParseShard(o.Shard); err != nil {
		errs = append(errs, err)
	}
	if s.Sleep, err = config.ParseSleep(o.Sleep); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.rebuildOptions().Check(o.Rebuild))
	if o.CatchUp < catchUpNone || o.CatchUp > catchUpAround {
		errs = append(errs, fmt.Errorf("--catch-up %d: give 0, 1 or 2", o.CatchUp))
	}
	if o.IDsFile != "" {
		errs = append(errs, idsfile.CheckPath(o.IDsFile))
	}
	if !o.DryRun {
		errs = append(errs, statedir.Prepare(o.StateDir))
	}
	errs = append(errs, s.Finish(cores()))
	if d, ok := old.Sleep(s.BlockSize); ok { // the old job's sleep, with its rule
		s.Sleep = d
	}
	o.spec = s
	return config.Join(errs...)
}

// fingerprint names this run's work (a resumed run must be the same).
func (o *runOptions) fingerprint() string {
	if o.IDsFile == "" {
		return o.spec.Fingerprint("")
	}
	return o.spec.Fingerprint(idsfile.Identity(o.IDsFile))
}

func (o *runOptions) rebuildOptions() schema.RebuildOptions {
	return schema.RebuildOptions{Mapping: o.Mapping, Shards: o.IndexShards, Replicas: o.IndexReplicas}
}

// readIDs reads --ids-file, says what it skipped, and keeps this shard's
// ids.
func (o *runOptions) readIDs(ctx context.Context, g *globalOptions, log *slog.Logger) ([]string, error) {
	res, err := idsfile.ReadFile(ctx, o.IDsFile)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted while reading --ids-file: %w", ctx.Err())
	}
	if err != nil {
		return nil, &config.UsageError{Err: err}
	}
	for i, bad := range res.Skipped {
		if i == 5 {
			log.Warn("more lines skipped", "count", len(res.Skipped)-5)
			break
		}
		log.Warn("skipped a line of --ids-file that is not an id: " + bad.String())
	}
	if len(res.Skipped) > 0 || res.Duplicates > 0 {
		fmt.Fprintf(g.stderr, "%s: %d ids, %d lines skipped (not ids), %d duplicates dropped\n", o.IDsFile, len(res.IDs), len(res.Skipped), res.Duplicates)
	}
	for _, t := range res.ObjectTypes {
		if t != o.spec.Kind.Name {
			return nil, config.Usagef("--ids-file %s holds %s ids (from an old job's log) but --object-type is %s", o.IDsFile, t, o.spec.Kind.Name)
		}
	}
	return idsfile.Shard(res.IDs, o.spec.Shard.I, o.spec.Shard.N), nil
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions) error {
	log := g.logger.With("component", "run")
	spec := o.spec
	dir := checkpoint.Dir(o.StateDir)

	// The ids file, if any, is read and checked before anything else.
	var ids []string
	span := cassandra.Shard(spec.Shard.I, spec.Shard.N)
	if o.IDsFile != "" {
		var err error
		if ids, err = o.readIDs(ctx, g, log); err != nil {
			return err
		}
		span = cassandra.Range{Start: -1, End: int64(len(ids)) - 1}
	}

	// What to do: a fresh run, or the rest of an interrupted one.
	plan := syncjob.Plan{Decision: syncjob.Fresh}
	if !spec.DryRun {
		unlock, err := statedir.Lock(o.StateDir)
		if err != nil {
			return err
		}
		defer unlock()
		if plan, err = syncjob.PlanRun(spec.Resume, o.fingerprint(), syncjob.Span{Start: span.Start, End: span.End}, dir, o.StateDir); err != nil {
			return err
		}
		switch {
		case plan.Decision == syncjob.AlreadyDone:
			fmt.Fprintf(g.stdout, "The run in %s (%d) is already complete: nothing to resume.\n", o.StateDir, plan.Prev.RunMS)
			return nil
		case spec.Resume == syncjob.ResumeAuto:
			fmt.Fprintf(g.stdout, "--resume auto: %s\n", plan.Reason)
		case plan.SetAside != "":
			log.Warn(plan.Reason)
		}
	}
	resuming := plan.Decision == syncjob.Resume

	// Connections: failures here are exit 3.
	sess, err := connectCassandra(ctx, o.Cassandra, true)
	if err != nil {
		return err
	}
	defer sess.CloseWithin(closeWait)
	runMS := plan.RunMS(time.Now())
	tgt, client, rb, err := o.wireTarget(ctx, log, runMS, resuming)
	if err != nil {
		return err
	}

	// The work: units of the ring (or of the ids file), its source, its size.
	var prev *checkpoint.State
	if resuming {
		prev = plan.Prev
	}
	work, err := source.PlanWork(ctx, sess, spec, ids, prev, log)
	if err != nil {
		return err
	}
	printTotal(g, spec.Kind, work.Total, work.TotalFrom, ids == nil)
	if spec.DryRun {
		return runDry(ctx, g, spec, work.Units, work.Source, tgt.(*target.Dry))
	}

	// Checkpoint, files, progress.
	tracker, err := plan.Tracker(dir, spec, o.fingerprint(), runMS, work.Units, work.Total)
	if err != nil {
		return err
	}
	var resumed *runlog.Resumed
	if resuming {
		c := plan.Prev.Counts
		resumed = &runlog.Resumed{SavedAt: plan.Prev.SavedAt, Succeeded: c.Succeeded, Failed: c.Failed, Skipped: c.Skipped}
		log.Info("resuming", "run", runMS, "unitsLeft", len(tracker.Pending()), "succeeded", c.Succeeded, "failed", c.Failed)
	}
	rl, err := runlog.Open(o.StateDir, spec.Kind, runMS)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	defer func() { _ = rl.Close() }() // Sync below reports write errors
	onBlock, stop, err := o.observers(g, log, work, tracker)
	if err != nil {
		return err
	}
	defer stop()

	var swap func(context.Context) error
	var fin *rebuildFinish
	if rb != nil {
		fin = &rebuildFinish{rb: rb, client: client, sess: sess, units: work.Units, src: work.Source, spec: spec,
			passes: o.CatchUp, dir: o.StateDir, log: log, deleted: spec.DeleteOld}
		swap = fin.Swap
	}
	rep := syncjob.Execute(ctx, syncjob.Job{
		Spec: spec, Tracker: tracker, Source: work.Source, Target: tgt, Records: rl,
		Swap: swap, OnBlock: onBlock, CheckpointPath: dir.Path(),
	})
	_ = rl.Sync()
	return o.report(g, log, rep, runMS, resumed, rl.Paths(), fin)
}

// wireTarget makes the run's target: the Sync API client, the search
// engine (with the rebuild it starts or continues, and the client that
// finishes it), or a dry run. Connection failures are exit 3.
func (o *runOptions) wireTarget(ctx context.Context, log *slog.Logger, runMS int64, resuming bool) (syncjob.Target, *search.Client, *schema.Rebuild, error) {
	spec := o.spec
	if spec.Target == syncjob.APITarget {
		client, err := syncapi.NewClient(syncapi.ClientConfig{
			Endpoint:   o.API.Endpoint,
			APIKey:     o.API.Key,
			TLSCA:      o.API.TLSCA,
			Retries:    spec.Retries,
			Background: spec.RequestMode == syncjob.BackgroundRequests,
			UserAgent:  "indexsync/" + buildinfo.Get().Version,
		})
		if err != nil {
			return nil, nil, nil, &config.UsageError{Err: err}
		}
		if spec.DryRun {
			return &target.Dry{Body: func(ids []string) ([]byte, error) { return client.Body(spec.Kind.Name, ids) }}, nil, nil, nil
		}
		if err := client.CheckReachable(ctx); err != nil {
			return nil, nil, nil, outcome.As(outcome.Unreachable, err)
		}
		return &target.API{Client: client, ObjectType: spec.Kind.Name, RunMS: runMS}, nil, nil, nil
	}
	client, info, err := connectSearch(ctx, o.Search, spec.Retries, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if spec.DryRun {
		return &target.Dry{}, client, nil, nil
	}
	index := spec.Index
	var rb *schema.Rebuild
	if spec.Rebuild {
		r, err := schema.BeginRebuild(ctx, client, schema.IndexOf(spec.Kind), spec.Index, o.rebuildOptions(), o.StateDir, resuming)
		if err != nil {
			return nil, nil, nil, err
		}
		log.Info("rebuilding into a fresh index; the alias moves when it is complete", "alias", r.Alias, "index", r.Index, "old", r.Old, "definition", r.Definition)
		rb, index = &r, r.Index
	} else if _, _, err := requireIndex(ctx, client, &o.Search, spec.Kind); err != nil {
		return nil, nil, nil, err
	}
	log.Info("search engine", "engine", info.String(), "index", index)
	return &target.Search{Client: client, Index: index}, client, rb, nil
}

// observers are what watches the blocks: the progress bar or log lines,
// the old job's console lines, and the metrics of --metrics-listen.
func (o *runOptions) observers(g *globalOptions, log *slog.Logger, work source.Work, tracker *checkpoint.Tracker) (func(checkpoint.Counts), func(), error) {
	done := tracker.Snapshot().Counts
	total := work.Total
	done0 := int64(done.Succeeded + done.Failed + done.Skipped)
	bar := progress.New(progress.Options{Mode: g.Progress, Out: os.Stderr, Total: total, TotalSource: work.TotalFrom, Before: done0,
		Label: "syncing " + o.spec.Kind.Name + "s", Log: log, Estimated: work.Estimated, Covered: tracker.Covered})
	metrics := runmetrics.New()
	stopMetrics := func() {}
	if o.MetricsListen != "" {
		var err error
		if stopMetrics, err = metrics.Serve(o.MetricsListen, log); err != nil {
			return nil, nil, err
		}
	}
	doneSoFar := done0
	onBlock := func(d checkpoint.Counts) {
		n := int64(d.Succeeded + d.Failed + d.Skipped)
		bar.Add(n)
		metrics.Observe(d)
		if o.spec.Target == syncjob.APITarget && g.LogFormat == "text" {
			doneSoFar += n
			fmt.Fprintf(g.stdout, "Sync API call done for %d/%d records...\n", doneSoFar, total)
		}
	}
	return onBlock, func() { bar.Finish(); stopMetrics() }, nil
}

// report prints the old job's closing lines, writes the summary with the
// exit code, and returns the run's error (nil when all went well).
func (o *runOptions) report(g *globalOptions, log *slog.Logger, rep syncjob.Report, runMS int64, resumed *runlog.Resumed, paths runlog.Paths, fin *rebuildFinish) error {
	kind := o.spec.Kind
	c := rep.Counts
	if rep.LeftOut {
		fmt.Fprintf(g.stderr, "indexsync: the rebuild left %d documents out; alias %s stays on %v and the new index %s is kept for inspection\n", c.Failed, fin.rb.Alias, fin.rb.Old, fin.rb.Index)
	}
	if rep.Swapped {
		fin.Print(g.stdout, fin.rb.SwapSummary(o.spec.DeleteOld))
	}
	secs := rep.Finished.Sub(rep.Started).Seconds()
	sum := runlog.Summary{
		ObjectType: kind.Name, Target: o.spec.Target.String(), Started: rep.Started, Finished: rep.Finished,
		DurationSeconds: secs,
		Total:           c.Total, Succeeded: c.Succeeded, Failed: c.Failed, Skipped: c.Skipped, Retries: c.Retries,
		DocsPerSecond: float64(rep.ThisRun.Succeeded+rep.ThisRun.Failed+rep.ThisRun.Skipped) / secs,
		ExitCode:      exitCodeOf(rep.Class), ResumedFrom: resumed,
	}
	if fin != nil {
		sum.Rebuild = fin.summary(rep.Swapped)
	}
	sumPath, err := runlog.WriteSummary(o.StateDir, runMS, sum)
	if err != nil {
		log.Error("could not write the summary", "err", err)
	}
	if rep.Class == outcome.OK || rep.Class == outcome.SomeFailed {
		fmt.Fprintf(g.stdout, "%s Sync Job Completed!!!\n", titleCase(kind.Name))
	}
	fmt.Fprintf(g.stdout, "Success log: %s\nFailure log: %s\nFailed ids: %s\nSummary: %s\n", paths.Success, paths.Failure, paths.FailedIDs, sumPath)
	fmt.Fprintf(g.stdout, "%d synced, %d failed, %d skipped of %d; %d retries; %.0f docs/s\n",
		c.Succeeded, c.Failed, c.Skipped, c.Total, c.Retries, sum.DocsPerSecond)
	if rep.Class == outcome.SomeFailed {
		fmt.Fprintf(g.stderr, "indexsync: %d ids failed; they are listed in %s (run again with --ids-file %s)\n", c.Failed, paths.FailedIDs, paths.FailedIDs)
	}
	return rep.Err
}

// printTotal prints the old job's first line, and its complaint about an
// empty table.
func printTotal(g *globalOptions, kind sunbird.Kind, total int64, from string, wholeTable bool) {
	if strings.HasPrefix(from, "estimated") {
		fmt.Fprintf(g.stdout, "Total number of %s records to be synced : ~%d (%s)\n", kind.Name, total, from)
	} else {
		fmt.Fprintf(g.stdout, "Total number of %s records to be synced : %d\n", kind.Name, total)
	}
	if total == 0 && wholeTable {
		fmt.Fprintf(g.stdout, "No %s records found in cassandra!!!\n", kind.Name)
	}
}

func runDry(ctx context.Context, g *globalOptions, spec syncjob.Spec, units []checkpoint.Unit, src syncjob.Source, dry *target.Dry) error {
	start := time.Now()
	res, err := syncjob.DryRun(ctx, spec, units, src, dry)
	if err != nil {
		return outcome.As(outcome.Fatal, err)
	}
	what := "request bodies"
	if spec.Target == syncjob.SearchTarget {
		what = "documents"
	}
	fmt.Fprintf(g.stdout, "Dry run: %d %ss would be sent in %d blocks (%d missing); %d bytes of %s built in %s. Nothing was sent.\n",
		res.Counts.Succeeded, spec.Kind.Name, res.Blocks, res.Counts.Skipped, dry.Bytes.Load(), what, time.Since(start).Round(time.Millisecond))
	if res.Interrupted {
		return fmt.Errorf("interrupted: %w", context.Canceled)
	}
	return nil
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
