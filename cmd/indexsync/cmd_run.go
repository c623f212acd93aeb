package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/progress"
	"github.com/indexsync/indexsync/internal/runlog"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/source"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/syncjob"
	"github.com/indexsync/indexsync/internal/target"
	"github.com/indexsync/indexsync/internal/throttle"
)

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
	Resume        bool
	Shard         string
	Rebuild       bool
	Mapping       string
	IndexShards   int
	IndexReplicas int
	DeleteOld     bool
	DryRun        bool
	Retries       int
	Ranges        int
	MetricsListen string
	ContextParams []string

	sleep                time.Duration
	shardI, shardN       int
	blockSizeFromContext bool
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Sync every user (or the ids in a file) from Cassandra to the index",
		Long: `run reads the ids (or whole rows) of a table with parallel token-range scans
and sends them in blocks to the Sync API (--target api, the old job's way) or
writes documents straight to the search engine (--target search). Progress is
checkpointed per block: --resume continues an interrupted run.

The old job's arguments work unchanged: --context_param name=value, for
sunbird_cassandra_server, sunbird_cassandra_port, sunbird_cassandra_username,
sunbird_cassandra_password, sunbird_user_sync_api_endpoint,
sunbird_user_sync_api_key, sunbird_user_sync_block_size,
sunbird_user_sync_sleep_time and sunbird_cassandra_keyspace.`,
		Example: `  indexsync run --api-endpoint http://sync:9000/v1/data/sync      # key in INDEXSYNC_API_KEY
  indexsync run --target search --concurrency 8
  indexsync run --ids-file failed-ids_1764100000000.txt
  indexsync run --resume --state-dir /var/lib/indexsync`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.finalize(cmd); err != nil {
				return err
			}
			return runRun(cmd.Context(), g, &o)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	o.Search.AddFlags(fs)
	o.API.AddFlags(fs)
	fs.StringVar(&o.ObjectType, "object-type", "user", "what to sync: user, organisation or location")
	fs.StringVar(&o.Target, "target", "api", "api (POST ids to the Sync API) or search (write documents to the search engine)")
	fs.StringVar(&o.RequestMode, "request-mode", "sync", `api target: "sync" adds operationType "sync" and reads per-id results; "background" sends the old body as is`)
	fs.IntVar(&o.BlockSize, "block-size", 0, "ids per API call, or documents per bulk request (0: 100 for api, 500 for search)")
	o.BulkBytes = 5 << 20
	fs.Var(config.ByteSize{N: &o.BulkBytes}, "bulk-bytes", "largest bulk request (search target)")
	fs.StringVar(&o.Sleep, "sleep", "0s", "pause between a worker's API calls: a duration (10s) or milliseconds (10000)")
	fs.Float64Var(&o.Rate, "rate", 0, "most documents per second (0: no limit)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "parallel calls / bulk workers (0: 1 for api, 2 × cores for search)")
	fs.StringVar(&o.IDsFile, "ids-file", "", "sync only these ids: one a line, a failed-ids file, or an old job's failure log")
	fs.StringVar(&o.StateDir, "state-dir", ".", "where logs, the checkpoint and the summary go")
	fs.BoolVar(&o.Resume, "resume", false, "continue the interrupted run in --state-dir")
	fs.StringVar(&o.Shard, "shard", "", "I/N: only the I-th (0-based) of N slices of the token ring")
	fs.BoolVar(&o.Rebuild, "rebuild", false, "search target: load a fresh index and swap the alias when done")
	fs.StringVar(&o.Mapping, "mapping", "", "with --rebuild: the new index's mappings and settings: empty copies the index behind the alias (ours when there is none), builtin uses ours, or a file with a create-index body")
	fs.IntVar(&o.IndexShards, "index-shards", -1, "with --rebuild: primary shards of the new index (-1: those of the index it replaces)")
	fs.IntVar(&o.IndexReplicas, "index-replicas", -1, "with --rebuild: replicas of the new index once loaded (-1: those of the index it replaces)")
	fs.BoolVar(&o.DeleteOld, "delete-old", false, "with --rebuild: delete the previous index after the swap")
	fs.BoolVar(&o.DryRun, "dry-run", false, "scan and count, build documents or request bodies, send nothing")
	fs.IntVar(&o.Retries, "retries", 5, "retries per call or bulk item, with exponential backoff and jitter")
	fs.IntVar(&o.Ranges, "ranges", 0, "token ranges to split the scan into (0: 32 per worker, at least 256)")
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus metrics of the run on this address (e.g. :9102)")
	fs.StringArrayVar(&o.ContextParams, "context_param", nil, "the old job's parameters: name=value (see above)")
	return cmd
}

// contextParams translates the old job's --context_param arguments. They are
// command-line arguments, so they win over the environment.
func (o *runOptions) contextParams(cmd *cobra.Command) error {
	var errs []error
	for _, p := range o.ContextParams {
		name, value, ok := strings.Cut(p, "=")
		value = strings.Trim(value, `"`)
		if !ok {
			errs = append(errs, fmt.Errorf("--context_param %q: want name=value", p))
			continue
		}
		var err error
		switch name {
		case "sunbird_cassandra_server":
			o.Cassandra.Hosts = strings.Split(value, ",")
		case "sunbird_cassandra_port":
			o.Cassandra.Port, err = strconv.Atoi(value)
		case "sunbird_cassandra_username":
			o.Cassandra.Username = value
		case "sunbird_cassandra_password":
			o.Cassandra.Password = secret.New(value)
		case "sunbird_cassandra_keyspace":
			o.Cassandra.Keyspace = value
		case "sunbird_user_sync_api_endpoint":
			o.API.Endpoint = value
		case "sunbird_user_sync_api_key":
			o.API.Key = secret.New(value)
		case "sunbird_user_sync_block_size":
			o.BlockSize, err = strconv.Atoi(value)
			o.blockSizeFromContext = true
		case "sunbird_user_sync_sleep_time":
			var ms int
			if ms, err = strconv.Atoi(value); err == nil {
				o.Sleep = strconv.Itoa(ms)
				if ms <= 0 { // the old job's rule
					o.Sleep = "old-rule"
				}
			}
		default:
			errs = append(errs, fmt.Errorf("unknown --context_param %q (known: sunbird_cassandra_server, sunbird_cassandra_port, sunbird_cassandra_username, sunbird_cassandra_password, sunbird_cassandra_keyspace, sunbird_user_sync_api_endpoint, sunbird_user_sync_api_key, sunbird_user_sync_block_size, sunbird_user_sync_sleep_time)", name))
			continue
		}
		if err != nil {
			shown := value
			if strings.Contains(name, "password") || strings.Contains(name, "key") {
				shown = "REDACTED"
			}
			errs = append(errs, fmt.Errorf("--context_param %s=%q: %w", name, shown, err))
		}
	}
	_ = cmd
	return config.Join(errs...)
}

// parseSleep reads --sleep: a Go duration, or plain milliseconds.
func parseSleep(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("--sleep %q: must not be negative", s)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--sleep %q: give a duration (10s, 500ms) or milliseconds (10000)", s)
	}
	return d, nil
}

func (o *runOptions) finalize(cmd *cobra.Command) error {
	if err := o.contextParams(cmd); err != nil {
		return err
	}
	errs := []error{o.Cassandra.Finalize()}
	switch o.Target {
	case "api":
		errs = append(errs, o.API.Finalize())
		if o.Rebuild {
			errs = append(errs, errors.New("--rebuild needs --target search"))
		}
	case "search":
		errs = append(errs, o.Search.Finalize())
	default:
		errs = append(errs, fmt.Errorf("--target %q: use api or search", o.Target))
	}
	if !store.ValidObjectType(o.ObjectType) {
		errs = append(errs, fmt.Errorf("--object-type %q: use user, organisation or location", o.ObjectType))
	}
	if o.RequestMode != "sync" && o.RequestMode != "background" {
		errs = append(errs, fmt.Errorf("--request-mode %q: use sync or background", o.RequestMode))
	}
	if o.BlockSize == 0 {
		o.BlockSize = 100
		if o.Target == "search" {
			o.BlockSize = 500 // make bench: 500 documents a bulk request are much faster than 100
		}
	}
	if o.BlockSize < 1 || o.BlockSize > 10000 {
		errs = append(errs, fmt.Errorf("--block-size %d: give 1 to 10000", o.BlockSize))
	}
	if o.BulkBytes < 1024 {
		errs = append(errs, fmt.Errorf("--bulk-bytes %d: give at least 1KiB", o.BulkBytes))
	}
	if o.Sleep == "old-rule" {
		o.sleep = time.Duration(o.BlockSize) * 100 * time.Millisecond
	} else if d, err := parseSleep(o.Sleep); err != nil {
		errs = append(errs, err)
	} else {
		o.sleep = d
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate %g: must not be negative", o.Rate))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("--concurrency %d: give 1 or more (0: the default)", o.Concurrency))
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
		if o.Target == "search" {
			o.Concurrency = 2 * cores()
		}
	}
	if o.Retries < 0 {
		errs = append(errs, fmt.Errorf("--retries %d: must not be negative", o.Retries))
	}
	var err error
	if o.shardI, o.shardN, err = parseShard(o.Shard); err != nil {
		errs = append(errs, err)
	}
	if o.DeleteOld && !o.Rebuild {
		errs = append(errs, errors.New("--delete-old only goes with --rebuild"))
	}
	if !o.Rebuild && (o.Mapping != "" || o.IndexShards != -1 || o.IndexReplicas != -1) {
		errs = append(errs, errors.New("--mapping, --index-shards and --index-replicas only go with --rebuild"))
	}
	if o.IndexShards == 0 || o.IndexShards < -1 || o.IndexShards > 1024 {
		errs = append(errs, fmt.Errorf("--index-shards %d: give 1 to 1024 (-1: those of the index it replaces)", o.IndexShards))
	}
	if o.IndexReplicas < -1 || o.IndexReplicas > 64 {
		errs = append(errs, fmt.Errorf("--index-replicas %d: give 0 to 64 (-1: those of the index it replaces)", o.IndexReplicas))
	}
	if o.Mapping != "" && o.Mapping != schema.MappingBuiltin {
		if _, err := os.Stat(o.Mapping); err != nil {
			errs = append(errs, fmt.Errorf("--mapping: %w (give a file with a create-index body, or builtin)", err))
		}
	}
	if o.IDsFile != "" && o.Rebuild {
		errs = append(errs, errors.New("--rebuild rewrites the whole index: it cannot take --ids-file"))
	}
	if o.IDsFile != "" {
		if st, err := os.Stat(o.IDsFile); err != nil {
			errs = append(errs, fmt.Errorf("--ids-file: %w", err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("--ids-file %s is a directory", o.IDsFile))
		}
	}
	if !o.DryRun {
		if err := checkWritable(o.StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	return config.Join(errs...)
}

// lockStateDir takes an exclusive lock on the state directory, so two runs
// cannot overwrite each other's checkpoint.
func lockStateDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, config.Usagef("--state-dir %s: %v", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, config.Usagef("--state-dir %s is in use by another indexsync run (give each run its own --state-dir)", dir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// checkWritable makes sure the state dir exists (creating it) and takes files.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--state-dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".indexsync-write-test-*")
	if err != nil {
		return fmt.Errorf("--state-dir %s is not writable: %w (choose another --state-dir)", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// fingerprint names the work a checkpoint belongs to: resume refuses a
// different job.
func (o *runOptions) fingerprint() string {
	parts := []string{o.ObjectType, o.Target, o.Cassandra.Keyspace, o.Shard}
	if o.IDsFile != "" {
		abs, _ := filepath.Abs(o.IDsFile)
		st, _ := os.Stat(o.IDsFile)
		parts = append(parts, abs, strconv.FormatInt(st.Size(), 10), st.ModTime().UTC().String())
	}
	if o.Target == "search" {
		parts = append(parts, o.searchIndex(), strconv.FormatBool(o.Rebuild))
	}
	return checkpoint.Fingerprint(parts...)
}

// searchIndex is the index or alias the search target writes to.
func (o *runOptions) searchIndex() string {
	name, _ := o.Search.Index(o.ObjectType)
	return name
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions) error {
	log := g.logger.With("component", "run")
	cpPath := filepath.Join(o.StateDir, "checkpoint.json")
	if !o.DryRun {
		unlock, err := lockStateDir(o.StateDir)
		if err != nil {
			return err
		}
		defer unlock()
	}

	// What to do: a fresh run, or the rest of an interrupted one.
	var prev *checkpoint.State
	if !o.DryRun {
		st, err := checkpoint.Load(cpPath)
		switch {
		case errors.Is(err, checkpoint.ErrNoCheckpoint):
			if o.Resume {
				return config.Usagef("--resume: no checkpoint in %s (start a run without --resume)", o.StateDir)
			}
		case err != nil:
			return &config.UsageError{Err: err}
		case o.Resume:
			if st.Complete {
				fmt.Fprintf(g.stdout, "The run in %s (%d) is already complete: nothing to resume.\n", o.StateDir, st.RunMS)
				return nil
			}
			if st.Fingerprint != o.fingerprint() {
				return config.Usagef("--resume: the checkpoint in %s is for another job (%s, target %s); give the same --object-type, --target, --keyspace, --shard and --ids-file, or start afresh without --resume", o.StateDir, st.ObjectType, st.Target)
			}
			prev = st
		default:
			if !st.Complete {
				kept := filepath.Join(o.StateDir, fmt.Sprintf("checkpoint_%d.json", st.RunMS))
				if err := os.Rename(cpPath, kept); err == nil {
					log.Warn("an unfinished run's checkpoint was set aside; this run starts afresh (use --resume to continue a run)", "kept", kept)
				}
			}
		}
	}

	// The ids file, if any, is read and checked before anything is sent.
	var ids []string
	if o.IDsFile != "" {
		res, err := idsfile.ReadFile(o.IDsFile)
		if err != nil {
			return &config.UsageError{Err: err}
		}
		for i, bad := range res.Skipped {
			if i == 5 {
				log.Warn("more lines skipped", "count", len(res.Skipped)-5)
				break
			}
			log.Warn("skipped a line of --ids-file that is not an id", "line", bad.LineNo, "text", bad.Text)
		}
		if len(res.Skipped) > 0 || res.Duplicates > 0 {
			fmt.Fprintf(g.stderr, "%s: %d ids, %d lines skipped (not ids), %d duplicates dropped\n", o.IDsFile, len(res.IDs), len(res.Skipped), res.Duplicates)
		}
		for _, t := range res.ObjectTypes {
			if t != o.ObjectType {
				return config.Usagef("--ids-file %s holds %s ids (from an old job's log) but --object-type is %s", o.IDsFile, t, o.ObjectType)
			}
		}
		ids = res.IDs
		if o.shardN > 1 {
			ids = shardIDs(ids, o.shardI, o.shardN)
		}
	}

	// Connections: failures here are exit 3.
	sess, err := connectCassandra(ctx, o.Cassandra, true)
	if err != nil {
		return err
	}
	defer sess.Close()
	conc := o.Concurrency
	var tgt syncjob.Target
	var apiClient *syncapi.Client
	var rebuild *schema.Rebuild
	var searchClient *search.Client
	runMS := time.Now().UnixMilli()
	if prev != nil {
		runMS = prev.RunMS
	}
	switch o.Target {
	case "api":
		apiClient, err = syncapi.NewClient(syncapi.ClientConfig{
			Endpoint:   o.API.Endpoint,
			APIKey:     o.API.Key,
			Retries:    o.Retries,
			Background: o.RequestMode == "background",
			UserAgent:  "indexsync/" + buildinfo.Get().Version,
		})
		if err != nil {
			return &config.UsageError{Err: err}
		}
		if !o.DryRun {
			if err := dialEndpoint(ctx, o.API.Endpoint); err != nil {
				return &unreachableError{err: fmt.Errorf("cannot reach the Sync API at %s: %w (check --api-endpoint and that the service runs)", apiClient.Endpoint(), err)}
			}
		}
		tgt = &target.API{Client: apiClient, ObjectType: o.ObjectType, RunMS: runMS}
	case "search":
		client, info, err := connectSearch(ctx, o.Search, o.Retries)
		if err != nil {
			return err
		}
		searchClient = client
		index := o.searchIndex()
		if o.Rebuild && !o.DryRun {
			rb, err := o.startRebuild(ctx, client, prev != nil)
			if err != nil {
				return err
			}
			rebuild = &rb
			index = rb.Index
			log.Info("rebuilding into a fresh index; the alias moves when it is complete", "alias", rb.Alias, "index", rb.Index, "old", rb.Old, "definition", rb.Definition)
		} else if _, _, err := requireIndex(ctx, client, &o.Search, o.ObjectType); err != nil {
			return err
		}
		log.Info("search engine", "engine", info.String(), "index", index)
		tgt = &target.Search{Client: client, Index: index}
	}
	var dry *target.Dry
	if o.DryRun {
		dry = &target.Dry{}
		if apiClient != nil {
			dry.Body = func(ids []string) ([]byte, error) { return apiClient.Body(o.ObjectType, ids) }
		}
		tgt = dry
	}

	// The work: units of the ring (or of the ids file), and its source.
	table, key, _ := source.Table(o.ObjectType)
	var units []checkpoint.Unit
	var src syncjob.Source
	var total int64
	totalFrom := ""
	switch {
	case ids != nil:
		units = source.IDUnits(len(ids), max(o.BlockSize*20, 1000))
		total, totalFrom = int64(len(ids)), "ids in --ids-file"
		if o.Target == "search" {
			src = source.IDDocs{IDs: ids, Store: store.New(sess, o.Cassandra.Keyspace, store.Options{}), ObjectType: o.ObjectType, Block: o.BlockSize}
		} else {
			src = source.IDList{IDs: ids}
		}
	default:
		ring, err := sess.RingTokens(ctx)
		if err != nil {
			log.Warn("could not read the ring's tokens; splitting the ring evenly", "err", err)
		}
		n := o.Ranges
		if n <= 0 {
			n = max(256, 32*conc)
		}
		units = source.RangeUnits(cassandra.Split(cassandra.Shard(o.shardI, o.shardN), ring, n))
		src, err = o.rangeSource(ctx, sess, table, key, conc, log)
		if err != nil {
			return err
		}
	}
	if prev != nil {
		units = prev.Units
	}

	// The total, for the old console line and the progress bar.
	if ids == nil {
		total, totalFrom, err = countTotal(ctx, sess, o, table, key, units, conc)
		if err != nil {
			return err
		}
	}
	if prev != nil && prev.Counts.Total > 0 {
		total = int64(prev.Counts.Total)
	}
	noun := map[string]string{"user": "user", "organisation": "organisation", "location": "location"}[o.ObjectType]
	if strings.HasPrefix(totalFrom, "estimated") {
		fmt.Fprintf(g.stdout, "Total number of %s records to be synced : ~%d (%s)\n", noun, total, totalFrom)
	} else {
		fmt.Fprintf(g.stdout, "Total number of %s records to be synced : %d\n", noun, total)
	}
	if total == 0 && ids == nil {
		fmt.Fprintf(g.stdout, "No %s records found in cassandra!!!\n", noun)
	}

	if o.DryRun {
		return runDry(ctx, g, o, units, src, dry, total)
	}

	// Checkpoint and files.
	var tracker *checkpoint.Tracker
	var resumed *runlog.Resumed
	started := time.Now()
	if prev != nil {
		tracker = checkpoint.NewTracker(cpPath, prev)
		resumed = &runlog.Resumed{SavedAt: prev.SavedAt, Succeeded: prev.Counts.Succeeded, Failed: prev.Counts.Failed, Skipped: prev.Counts.Skipped}
		log.Info("resuming", "run", prev.RunMS, "unitsLeft", len(tracker.Pending()), "succeeded", prev.Counts.Succeeded, "failed", prev.Counts.Failed)
	} else {
		st := checkpoint.New(runMS, o.fingerprint(), o.ObjectType, o.Target, started, units)
		st.Counts.Total = int(total)
		tracker = checkpoint.NewTracker(cpPath, st)
		if err := tracker.Save(); err != nil {
			return &config.UsageError{Err: fmt.Errorf("write the checkpoint: %w", err)}
		}
	}
	rl, err := runlog.Open(o.StateDir, o.ObjectType, runMS)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	defer rl.Close()

	// Progress, metrics, console lines.
	snap := tracker.Snapshot()
	done0 := int64(snap.Counts.Succeeded + snap.Counts.Failed + snap.Counts.Skipped)
	bar := progress.New(progress.Options{Mode: g.Progress, Out: os.Stderr, Total: total, TotalSource: totalFrom, Label: "syncing " + o.ObjectType + "s", Log: log})
	bar.Add(done0)
	metrics := newRunMetrics()
	if o.MetricsListen != "" {
		stopMetrics, err := serveMetrics(o.MetricsListen, metrics.reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	doneSoFar := done0
	onBlock := func(d checkpoint.Counts) {
		n := int64(d.Succeeded + d.Failed + d.Skipped)
		bar.Add(n)
		metrics.observe(d)
		if o.Target == "api" && g.LogFormat == "text" {
			doneSoFar += n
			fmt.Fprintf(g.stdout, "Sync API call done for %d/%d records...\n", doneSoFar, total)
		}
	}
	res, runErr := syncjob.Run(ctx, syncjob.Config{
		Units:       tracker.Snapshot().Units,
		Pending:     tracker.Pending(),
		Source:      src,
		Target:      tgt,
		Checkpoint:  tracker,
		Records:     rl,
		BlockSize:   o.BlockSize,
		BlockBytes:  int(o.BulkBytes),
		Concurrency: conc,
		Sleep:       o.sleep,
		Throttle:    throttle.New(o.Rate),
		RequestNo:   snap.Counts.RequestNo,
		OnBlock:     onBlock,
	})
	bar.Finish()
	_ = rl.Sync()

	// The outcome.
	final := tracker.Snapshot()
	exit := exitOK
	switch {
	case runErr != nil && errors.Is(runErr, syncjob.ErrNoProgress) && isStartupFailure(runErr):
		exit = exitUnreachable
	case runErr != nil:
		exit = exitFatal
	case res.Interrupted:
		exit = exitInterrupted
	default:
		if err := tracker.MarkComplete(); err != nil {
			return fmt.Errorf("save the checkpoint: %w", err)
		}
		if final.Counts.Failed > 0 {
			exit = exitSomeFailed
		}
		if rebuild != nil {
			if final.Counts.Failed > 0 {
				fmt.Fprintf(g.stderr, "indexsync: the rebuild left %d documents out; alias %s stays on %v and the new index %s is kept for inspection\n", final.Counts.Failed, rebuild.Alias, rebuild.Old, rebuild.Index)
			} else if err := rebuild.Finish(ctx, searchClient, o.DeleteOld); err != nil {
				return &fatalError{err: fmt.Errorf("rebuild loaded %s but could not switch the alias: %w", rebuild.Index, err)}
			} else {
				fmt.Fprintln(g.stdout, rebuild.SwapSummary(o.DeleteOld))
			}
		}
	}
	finished := time.Now()
	sum := runlog.Summary{
		ObjectType: o.ObjectType, Target: o.Target, Started: started, Finished: finished,
		DurationSeconds: finished.Sub(started).Seconds(),
		Total:           final.Counts.Total, Succeeded: final.Counts.Succeeded, Failed: final.Counts.Failed,
		Skipped: final.Counts.Skipped, Retries: final.Counts.Retries,
		DocsPerSecond: float64(res.Counts.Succeeded+res.Counts.Failed+res.Counts.Skipped) / finished.Sub(started).Seconds(),
		ExitCode:      exit, ResumedFrom: resumed,
	}
	sumPath, err := runlog.WriteSummary(o.StateDir, runMS, sum)
	if err != nil {
		log.Error("could not write the summary", "err", err)
	}
	paths := rl.Paths()
	if exit == exitOK || exit == exitSomeFailed {
		fmt.Fprintf(g.stdout, "%s Sync Job Completed!!!\n", titleCase(noun))
	}
	fmt.Fprintf(g.stdout, "Success log: %s\nFailure log: %s\nFailed ids: %s\nSummary: %s\n", paths.Success, paths.Failure, paths.FailedIDs, sumPath)
	fmt.Fprintf(g.stdout, "%d synced, %d failed, %d skipped of %d; %d retries; %.0f docs/s\n",
		final.Counts.Succeeded, final.Counts.Failed, final.Counts.Skipped, final.Counts.Total, final.Counts.Retries, sum.DocsPerSecond)

	switch exit {
	case exitOK:
		return nil
	case exitSomeFailed:
		fmt.Fprintf(g.stderr, "indexsync: %d ids failed; they are listed in %s (run again with --ids-file %s)\n", final.Counts.Failed, paths.FailedIDs, paths.FailedIDs)
		return errSomeFailed
	case exitInterrupted:
		return fmt.Errorf("interrupted; checkpoint saved in %s: run again with --resume: %w", cpPath, context.Canceled)
	case exitUnreachable:
		return &unreachableError{err: runErr}
	}
	return &fatalError{err: fmt.Errorf("%w; checkpoint saved in %s: run again with --resume", runErr, cpPath)}
}

// startRebuild creates the fresh index of a rebuild, or finds the one a
// resumed rebuild was loading.
func (o *runOptions) startRebuild(ctx context.Context, client *search.Client, resuming bool) (schema.Rebuild, error) {
	if resuming {
		rb, err := schema.LoadRebuild(o.StateDir)
		if err != nil {
			return rb, config.Usagef("--resume --rebuild: cannot read %s in %s: %v", schema.RebuildFile, o.StateDir, err)
		}
		return rb, nil
	}
	ix, _ := schema.IndexFor(o.ObjectType)
	rb, err := schema.StartRebuild(ctx, client, ix, o.searchIndex(), schema.RebuildOptions{Mapping: o.Mapping, Shards: o.IndexShards, Replicas: o.IndexReplicas}, time.Now())
	if err != nil {
		return rb, err
	}
	if err := rb.Save(o.StateDir); err != nil {
		return rb, &config.UsageError{Err: fmt.Errorf("save the rebuild state: %w", err)}
	}
	return rb, nil
}

// isStartupFailure: a stop before anything was sent because the target
// refused the key or could not be reached.
func isStartupFailure(err error) bool {
	return errors.Is(err, syncapi.ErrUnauthorized) || errors.Is(err, syncapi.ErrUnreachable) || isSearchConnectError(err)
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// rangeSource picks what a range scan yields: ids for the API, documents
// (joined from the user tables) for the search engine.
func (o *runOptions) rangeSource(ctx context.Context, sess *cassandra.Session, table, key string, conc int, log interface{ Info(string, ...any) }) (syncjob.Source, error) {
	ks := o.Cassandra.Keyspace
	cols, err := sess.Columns(ctx, ks, table) // also: a clear error for a missing table
	if err != nil {
		return nil, err
	}
	switch {
	case o.Target == "api":
		return source.Keys{Scanner: &cassandra.Scanner{Session: sess, Keyspace: ks, Table: table, Key: key}}, nil
	case o.ObjectType == store.Organisation, o.ObjectType == store.Location:
		build := sunbird.BuildLocation
		if o.ObjectType == store.Organisation {
			types, from, err := store.LoadOrgTypes(ctx, sess, ks)
			if err != nil {
				return nil, err
			}
			log.Info("organisation types", "from", from, "types", len(types))
			build = func(r sunbird.Row) sunbird.Document { return sunbird.BuildOrganisation(r, types) }
		}
		return source.Rows{Scanner: &cassandra.Scanner{Session: sess, Keyspace: ks, Table: table, Key: key, Columns: cols}, Build: build}, nil
	}
	users, err := source.NewUsers(ctx, sess, ks, nil)
	if err != nil {
		return nil, err
	}
	names, n, err := source.OrgNames(ctx, sess, ks, conc)
	if err != nil {
		return nil, err
	}
	log.Info("organisation names loaded", "organisations", n)
	users.OrgNames = names
	return users, nil
}

// countTotal counts what a range run will cover: exactly (count(*) per
// range, in parallel) for the API target, whose calls are the slow part; for
// the search target Cassandra's own size estimate when it has one, so the
// count does not cost a pass over the data.
func countTotal(ctx context.Context, sess *cassandra.Session, o *runOptions, table, key string, units []checkpoint.Unit, conc int) (int64, string, error) {
	if o.Target == "search" {
		var est int64
		for _, u := range units {
			e, err := source.Estimate(ctx, sess, o.Cassandra.Keyspace, table, cassandra.Range{Start: u.Start, End: u.End})
			if err != nil {
				break
			}
			est += e
		}
		if est > 0 {
			return est, "estimated from system.size_estimates", nil
		}
	}
	stmt := fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE token(%s) > ? AND token(%s) <= ?", o.Cassandra.Keyspace, table, key, key)
	counts := make([]int64, len(units))
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(max(conc, 4))
	for i, u := range units {
		eg.Go(func() error {
			return sess.Query(stmt, u.Start, u.End).ScanContext(gctx, &counts[i])
		})
	}
	if err := eg.Wait(); err != nil {
		return 0, "", fmt.Errorf("count %s.%s: %w", o.Cassandra.Keyspace, table, err)
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, "counted in Cassandra", nil
}

// shardIDs keeps the ids of slice i of n, by a hash of the id: with an ids
// file there is no token ring to cut.
func shardIDs(ids []string, i, n int) []string {
	var out []string
	for _, id := range ids {
		if int(fnv32(id)%uint32(n)) == i {
			out = append(out, id)
		}
	}
	return out
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// dialEndpoint checks that something listens at the endpoint's host and port.
func dialEndpoint(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

func runDry(ctx context.Context, g *globalOptions, o *runOptions, units []checkpoint.Unit, src syncjob.Source, dry *target.Dry, total int64) error {
	pending := make([]int, len(units))
	for i := range units {
		pending[i] = i
	}
	start := time.Now()
	res, err := syncjob.Run(ctx, syncjob.Config{
		Units: units, Pending: pending, Source: src, Target: dry,
		Checkpoint: nopCheckpoint{}, Records: nopRecords{},
		BlockSize: o.BlockSize, BlockBytes: int(o.BulkBytes), Concurrency: o.Concurrency,
	})
	if err != nil {
		return &fatalError{err: err}
	}
	what := "request bodies"
	if o.Target == "search" {
		what = "documents"
	}
	fmt.Fprintf(g.stdout, "Dry run: %d %ss would be sent in %d blocks (%d missing); %d bytes of %s built in %s. Nothing was sent.\n",
		res.Counts.Succeeded, o.ObjectType, res.Blocks, res.Counts.Skipped, dry.Bytes.Load(), what, time.Since(start).Round(time.Millisecond))
	if res.Interrupted {
		return fmt.Errorf("interrupted: %w", context.Canceled)
	}
	_ = total
	return nil
}

type nopCheckpoint struct{}

func (nopCheckpoint) Apply([]checkpoint.Step, checkpoint.Counts) error { return nil }

type nopRecords struct{}

func (nopRecords) Record(bool, int, []byte, []byte) error { return nil }
func (nopRecords) FailedIDs([]string) error               { return nil }

// fatalError marks a run stopped mid-way (exit 4).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// runMetrics are the counters a long run exposes with --metrics-listen.
type runMetrics struct {
	reg  *prometheus.Registry
	docs *prometheus.CounterVec
	reqs prometheus.Counter
	rets prometheus.Counter
}

func newRunMetrics() *runMetrics {
	m := &runMetrics{
		reg: prometheus.NewRegistry(),
		docs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "indexsync_docs_synced_total", Help: "Ids handled by this run, by outcome (succeeded, failed, skipped).",
		}, []string{"outcome"}),
		reqs: prometheus.NewCounter(prometheus.CounterOpts{Name: "indexsync_requests_total", Help: "API calls or bulk requests made by this run."}),
		rets: prometheus.NewCounter(prometheus.CounterOpts{Name: "indexsync_retries_total", Help: "Retries made by this run."}),
	}
	m.reg.MustRegister(m.docs, m.reqs, m.rets, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *runMetrics) observe(d checkpoint.Counts) {
	m.docs.WithLabelValues("succeeded").Add(float64(d.Succeeded))
	m.docs.WithLabelValues("failed").Add(float64(d.Failed))
	m.docs.WithLabelValues("skipped").Add(float64(d.Skipped))
	m.reqs.Add(float64(d.RequestNo))
	m.rets.Add(float64(d.Retries))
}

func serveMetrics(addr string, reg *prometheus.Registry, log interface{ Warn(string, ...any) }) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, config.Usagef("--metrics-listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}

var _ io.Writer = os.Stdout
