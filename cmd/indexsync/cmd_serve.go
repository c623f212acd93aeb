package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/indexer"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/statedir"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/syncjob"
)

type serveOptions struct {
	Cassandra       config.Cassandra
	Search          config.Search
	Listen          string
	AdminListen     string
	Auth            string
	APIKeys         []secret.String
	APIKeysFile     string
	JWTFile         string
	InsecureNoAuth  bool
	MaxBody         int64
	MaxIDs          int
	SyncTimeout     time.Duration
	QueueSize       int
	Workers         int
	BatchSize       int
	BulkBytes       int64
	Retries         int
	ShutdownTimeout time.Duration
	StateDir        string
	OrgCacheTTL     time.Duration
	ReadBatch       int
	ReadConcurrency int

	jwtCreds []syncapi.JWTCredential

	// --tls-cert/--tls-key: serve https with this certificate
	TLSCert, TLSKey string
	tlsCert         *tls.Certificate
}

func newServeCommand(g *globalOptions) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Args:  cobra.NoArgs,
		Short: "Serve the Sync API (a drop-in for Sunbird's /v1/data/sync)",
		Long: `serve answers POST /v1/data/sync and POST /api/data/v1/index/sync with
Sunbird's request and envelope. Without operationType the ids are queued and
indexed in bulk in the background (503 when the queue is full); with
operationType "sync" the call waits and reports each id in esSyncResponse.
GET /health checks Cassandra and the search engine; GET /metrics is for
Prometheus. SIGTERM stops accepting calls and drains the queue.`,
		Example: `  INDEXSYNC_API_KEYS=$(cat key.txt) indexsync serve --listen :9000
  indexsync serve --auth none --listen 10.0.3.7:9000          # behind the gateway, as Sunbird's own
  indexsync serve --auth jwt --jwt-credentials-file consumers.json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.finalize(); err != nil {
				return err
			}
			return runServe(cmd.Context(), g, o)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	o.Search.AddFlags(fs)
	fs.StringVar(&o.Listen, "listen", ":9000", "address to listen on")
	fs.StringVar(&o.AdminListen, "admin-listen", "127.0.0.1:9001", "address of /metrics, /health with each check's finding, and the status page (empty: none); the main address answers /health with healthy or not only")
	fs.StringVar(&o.Auth, "auth", string(syncapi.AuthKeys), "how callers are checked: keys (a bearer key of --api-keys), none (a service behind the gateway on an internal address, as Sunbird's own), or jwt (the gateway consumers' JWTs, --jwt-credentials-file)")
	fs.Var(config.SecretList{L: &o.APIKeys}, "api-keys", "--auth keys: accepted API keys, comma-separated (prefer INDEXSYNC_API_KEYS or --api-keys-file); a key that contains a comma goes in --api-keys-file, one a line")
	fs.StringVar(&o.APIKeysFile, "api-keys-file", "", "--auth keys: file of accepted API keys, one a line")
	fs.StringVar(&o.JWTFile, "jwt-credentials-file", "", `--auth jwt: JSON file of the consumers' JWT credentials: [{"key","algorithm":"HS256"|"RS256","secret"|"rsa_public_key"}], or the gateway's {"data":[…]} export`)
	fs.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", false, "the old name of --auth none")
	o.MaxBody = syncapi.DefaultMaxBody
	fs.Var(config.ByteSize{N: &o.MaxBody}, "max-body", "largest request body accepted (413 above); Sunbird's service takes 50 MB, its gateway route 1 MB")
	fs.IntVar(&o.MaxIDs, "max-ids", 0, "most ids accepted in one call (400 above); 0: no limit, as Sunbird's service")
	fs.DurationVar(&o.SyncTimeout, "sync-timeout", syncapi.DefaultSyncTimeout, `how long an operationType "sync" call may take`)
	fs.IntVar(&o.QueueSize, "queue-size", syncapi.DefaultQueueSize, "ids the background queue holds (503 when full)")
	fs.IntVar(&o.Workers, "workers", syncapi.DefaultWorkers, "background indexing workers")
	fs.IntVar(&o.BatchSize, "batch-size", syncapi.DefaultBatchSize, "ids per bulk request")
	o.BulkBytes = indexer.DefaultMaxBytes
	fs.Var(config.ByteSize{N: &o.BulkBytes}, "bulk-bytes", "largest bulk request body")
	fs.IntVar(&o.Retries, "retries", 5, "retries of a failed bulk request or item")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", syncapi.DefaultShutdownTimeout, "how long SIGTERM may take to drain the queue")
	fs.StringVar(&o.StateDir, "state-dir", ".", "where ids left in the queue at shutdown are saved")
	fs.DurationVar(&o.OrgCacheTTL, "org-cache-ttl", store.DefaultOrgTTL, "how long organisation names are cached")
	fs.IntVar(&o.ReadBatch, "read-batch", store.DefaultBatch, "ids per Cassandra read (a partition-key IN query)")
	fs.IntVar(&o.ReadConcurrency, "read-concurrency", store.DefaultConcurrency, "Cassandra reads in flight per call")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "serve https: PEM certificate (chain) file, with --tls-key")
	fs.StringVar(&o.TLSKey, "tls-key", "", "serve https: PEM private key file of --tls-cert")
	return cmd
}

func (o *serveOptions) finalize() error {
	errs := []error{o.Cassandra.Finalize(), o.Search.Finalize()}
	if o.APIKeysFile != "" {
		keys, err := config.ReadSecretLines(o.APIKeysFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--api-keys-file: %w", err))
		}
		o.APIKeys = append(o.APIKeys, keys...)
	}
	mode, err := syncapi.ParseAuthMode(o.Auth)
	if err != nil {
		errs = append(errs, err)
	}
	if o.InsecureNoAuth {
		if mode != syncapi.AuthKeys && mode != syncapi.AuthNone {
			errs = append(errs, fmt.Errorf("--insecure-no-auth is the old name of --auth none: it cannot go with --auth %s", o.Auth))
		}
		mode = syncapi.AuthNone
	}
	o.Auth = string(mode)
	switch mode {
	case syncapi.AuthKeys:
		if len(o.APIKeys) == 0 {
			errs = append(errs, fmt.Errorf("no API key configured: set INDEXSYNC_API_KEYS or --api-keys-file, or choose --auth none (behind the gateway) or --auth jwt"))
		}
	case syncapi.AuthJWT:
		if o.JWTFile == "" {
			errs = append(errs, fmt.Errorf("--auth jwt needs --jwt-credentials-file (the consumers' JWT credentials)"))
		} else if o.jwtCreds, err = syncapi.LoadJWTCredentials(o.JWTFile); err != nil {
			errs = append(errs, fmt.Errorf("--jwt-credentials-file: %w", err))
		}
	}
	if mode != syncapi.AuthKeys && len(o.APIKeys) > 0 {
		errs = append(errs, fmt.Errorf("--api-keys / --api-keys-file only go with --auth keys"))
	}
	if mode != syncapi.AuthJWT && o.JWTFile != "" {
		errs = append(errs, fmt.Errorf("--jwt-credentials-file only goes with --auth jwt"))
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port or :port", o.Listen))
	}
	if _, _, err := net.SplitHostPort(o.AdminListen); o.AdminListen != "" && err != nil {
		errs = append(errs, fmt.Errorf("--admin-listen %q: want host:port or :port, or empty for none", o.AdminListen))
	}
	errs = append(errs,
		config.Bound("--max-body", o.MaxBody, 1<<10, syncapi.MaxMaxBody),
		config.Bound("--max-ids", o.MaxIDs, 0, syncapi.MaxQueueSize),
		config.Bound("--queue-size", o.QueueSize, 1, syncapi.MaxQueueSize),
		config.Bound("--workers", o.Workers, 1, syncjob.MaxConcurrency),
		config.Bound("--batch-size", o.BatchSize, 1, syncjob.MaxBlockSize),
		config.Bound("--bulk-bytes", o.BulkBytes, syncjob.MinBulkBytes, syncjob.MaxBulkBytes),
		config.Bound("--retries", o.Retries, 0, syncjob.MaxRetries),
		config.Bound("--read-batch", o.ReadBatch, 1, store.MaxBatch),
		config.Bound("--read-concurrency", o.ReadConcurrency, 1, syncjob.MaxConcurrency),
		config.Bound("--sync-timeout", o.SyncTimeout, time.Second, time.Hour),
		config.Bound("--shutdown-timeout", o.ShutdownTimeout, time.Second, 24*time.Hour),
		config.Bound("--org-cache-ttl", o.OrgCacheTTL, 0, 24*time.Hour))
	errs = append(errs, statedir.Prepare(o.StateDir))
	errs = append(errs, o.loadTLS())
	return config.Join(errs...)
}

// loadTLS reads --tls-cert and --tls-key, which go together.
func (o *serveOptions) loadTLS() error {
	if o.TLSCert == "" && o.TLSKey == "" {
		return nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both to serve https, or neither")
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return fmt.Errorf("--tls-cert %s / --tls-key %s: %w (want a PEM certificate, or chain, and its PEM private key)", o.TLSCert, o.TLSKey, err)
	}
	o.tlsCert = &cert
	return nil
}

func runServe(ctx context.Context, g *globalOptions, o serveOptions) error {
	log := g.logger.With("component", "serve")
	sess, err := connectCassandra(ctx, o.Cassandra, true)
	if err != nil {
		return err
	}
	defer sess.CloseWithin(closeWait)
	client, info, err := connectSearch(ctx, o.Search, o.Retries, log)
	if err != nil {
		return err
	}
	for _, kind := range sunbird.Kinds() {
		if _, _, err := requireIndex(ctx, client, &o.Search, kind); err != nil {
			return err
		}
	}
	log.Info("connected", "cassandra", o.Cassandra.Hosts, "keyspace", o.Cassandra.Keyspace, "search", info.String())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st := store.New(sess, o.Cassandra.Keyspace, store.Options{OrgTTL: o.OrgCacheTTL, Batch: o.ReadBatch, Concurrency: o.ReadConcurrency})
	for how, n := range map[string]func(store.ReadCounts) int64{
		"token_range":         func(c store.ReadCounts) int64 { return c.Range },
		"token_range_stopped": func(c store.ReadCounts) int64 { return c.RangeStop },
		"keys":                func(c store.ReadCounts) int64 { return c.Keys },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "indexsync_cassandra_reads_total",
			Help:        "Cassandra queries that read objects by id: token_range (a block's ids close together on the ring, one range query per table), token_range_stopped (a range that held too many other partitions; its ids were then read by key), keys (IN queries).",
			ConstLabels: prometheus.Labels{"how": how},
		}, func() float64 { return float64(n(st.Reads())) }))
	}
	w := &indexer.Writer{
		Client:   client,
		Indexes:  indexer.Indexes(o.Search.Indexes),
		MaxDocs:  o.BatchSize,
		MaxBytes: int(o.BulkBytes),
	}
	srv, err := syncapi.New(syncapi.Config{
		Auth:            syncapi.AuthMode(o.Auth),
		APIKeys:         o.APIKeys,
		JWTCredentials:  o.jwtCreds,
		MaxBody:         o.MaxBody,
		MaxIDs:          o.MaxIDs,
		SyncTimeout:     o.SyncTimeout,
		QueueSize:       o.QueueSize,
		Workers:         o.Workers,
		BatchSize:       o.BatchSize,
		ShutdownTimeout: o.ShutdownTimeout,
		StateDir:        o.StateDir,
		Version:         buildinfo.Get().Version,
		Gatherer:        reg,
		SyncWriter:      &indexer.Combiner{W: w, MaxDocs: o.BatchSize, Flushers: 2},
		Health: map[string]func(context.Context) error{
			"cassandra": func(ctx context.Context) error {
				return sess.Ping(ctx)
			},
			"search": func(ctx context.Context) error {
				_, err := client.Count(ctx, o.Search.Indexes[sunbird.UserKind.Name])
				return err
			},
		},
	}, st, w, log, reg)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	switch {
	case o.InsecureNoAuth:
		log.Warn("--insecure-no-auth is the old name of --auth none: the Sync API accepts calls without a key; listen only on an address the gateway alone reaches")
	case syncapi.AuthMode(o.Auth) == syncapi.AuthNone:
		log.Info("--auth none: the Sync API accepts calls without a key, as Sunbird's own service behind its gateway; listen only on an internal address", "listen", o.Listen)
	case syncapi.AuthMode(o.Auth) == syncapi.AuthJWT:
		log.Info("--auth jwt: calls need a gateway consumer's JWT", "credentials", len(o.jwtCreds))
	default:
		// the count shows a key that a comma cut in two (--api-keys is a comma list)
		log.Info("--auth keys: calls need one of the API keys", "keys", len(o.APIKeys))
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return &config.UsageError{Err: fmt.Errorf("listen on %s: %w (is another process using the port? change --listen)", o.Listen, err)}
	}
	var admin net.Listener
	if o.AdminListen != "" {
		if admin, err = net.Listen("tcp", o.AdminListen); err != nil {
			_ = ln.Close()
			return &config.UsageError{Err: fmt.Errorf("listen on %s: %w (is another process using the port? change --admin-listen, or give it empty for none)", o.AdminListen, err)}
		}
	}
	if o.tlsCert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*o.tlsCert}, MinVersion: tls.VersionTLS12})
		log.Info("serving https", "certificate", o.tlsCert.Leaf.Subject.String(), "notAfter", o.tlsCert.Leaf.NotAfter)
	}
	return srv.Run(ctx, ln, admin)
}
