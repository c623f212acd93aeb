// Package syncapi is indexsync's Sync API service: a drop-in for Sunbird's
// POST /v1/data/sync (docs/sunbird.md, the Sync API) that keeps its request and envelope but
// indexes in bulk, answers per id, and never drops work silently.
//
// Without operationType the ids go to a bounded queue that workers index in
// bulk (503 when the queue is full). The queue is kept in a journal in the
// state directory: a call is answered 200 only once its ids are on disk, and
// ids not yet indexed when the process dies (kill -9, OOM kill, power loss)
// are indexed after the next start. With operationType "sync" the call waits
// and reports each id in esSyncResponse.
package syncapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/indexsync/indexsync/internal/journal"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Loader reads objects by id and builds their documents.
type Loader interface {
	Documents(ctx context.Context, kind sunbird.Kind, ids []string) (store.Result, error)
}

// Writer indexes documents and returns, per failed id, why it failed.
type Writer interface {
	Write(ctx context.Context, kind sunbird.Kind, docs map[string][]byte) (failed map[string]string, err error)
}

// Config tunes the service.
type Config struct {
	Auth            AuthMode        // keys (the default), none or jwt
	APIKeys         []secret.String // AuthKeys: the accepted keys
	JWTCredentials  []JWTCredential // AuthJWT: the gateway consumers' credentials
	MaxBody         int64           // bytes; larger bodies get 413
	MaxIDs          int             // ids per call; more get 400
	SyncTimeout     time.Duration   // operationType "sync": how long a call may take
	QueueSize       int             // ids waiting for background indexing
	Workers         int             // background indexing workers
	BatchSize       int             // ids per background bulk request
	ShutdownTimeout time.Duration   // how long SIGTERM may take to drain the queue
	StateDir        string          // holds the queue's journal (serve-journal/) and the ids that could not be indexed
	Health          map[string]func(context.Context) error
	Version         string
	Gatherer        prometheus.Gatherer // exposed on /metrics; nil: no /metrics
	// SyncWriter, when set, indexes the documents of operationType "sync"
	// calls (an indexer.Combiner merges concurrent calls into shared bulk
	// requests); nil: the writer given to New, as background mode.
	SyncWriter Writer
}

// DefaultMaxBody is the largest body accepted by default: what Sunbird's
// service takes (50 MB). Its gateway route takes 1 MB, a limit the gateway
// applies before the service sees the call.
const DefaultMaxBody = 50 << 20

// Upper bounds of the sizes a deployment may set (--max-body, --queue-size,
// --max-ids): beyond them one call, or the queue, could take the process's
// memory.
const (
	MaxMaxBody   = 1 << 30
	MaxQueueSize = 10000000
)

// Defaults of the other Config fields left zero (the serve flags use them).
const (
	DefaultSyncTimeout     = 30 * time.Second
	DefaultQueueSize       = 100000
	DefaultWorkers         = 4
	DefaultBatchSize       = 500
	DefaultShutdownTimeout = 60 * time.Second
)

// Server is the Sync API.
type Server struct {
	cfg     Config
	loader  Loader
	writer  Writer
	log     *slog.Logger
	queue   *queue
	metrics *metrics
	started time.Time
	now     func() time.Time

	failures *failLog // ids the background workers could not index
	auth     authenticator

	journal       *journal.Journal // the queue on disk
	unlockJournal func()
}

// JournalDir is the directory, under the state directory, that holds the
// background queue's journal.
const JournalDir = "serve-journal"

// New returns a server. reg receives the service's metrics.
func New(cfg Config, loader Loader, writer Writer, log *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	auth, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Server{
		cfg: cfg, loader: loader, writer: writer, log: log,
		queue: newQueue(cfg.QueueSize), started: time.Now(), now: time.Now, auth: auth,
	}
	s.failures = newFailLog(cfg.StateDir, s.started)
	if err := s.openJournal(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(reg, s.queue, cfg.QueueSize, s.journal)
	return s, nil
}

// Run serves the API on ln (and the admin routes on admin, unless nil) and
// runs the background workers until ctx ends, then shuts down gracefully:
// it stops accepting, finishes the calls in flight and drains the queue
// within ShutdownTimeout. Ids it could not index are written to a file in
// StateDir and logged.
func (s *Server) Run(ctx context.Context, ln, admin net.Listener) error {
	srv := s.httpServer(s.Handler())
	var adminSrv *http.Server
	if admin != nil {
		adminSrv = s.httpServer(s.AdminHandler())
		go func() { _ = adminSrv.Serve(admin) }()
		s.log.Info("admin routes (/health detail, /metrics, status page)", "addr", admin.Addr().String())
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.worker(workCtx)
		}()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving the Sync API", "addr", ln.Addr().String(), "workers", s.cfg.Workers, "queue", s.cfg.QueueSize)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down: no new calls; draining the queue", "queued", s.queue.Len(), "timeout", s.cfg.ShutdownTimeout)
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("http shutdown", "err", err)
	}
	if adminSrv != nil {
		_ = adminSrv.Close() // nothing in flight there worth waiting for
	}
	s.queue.Close()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		stopWork()
		<-done
	}
	if left := s.queue.Drain(); len(left) > 0 {
		byType := map[string][]string{}
		for _, it := range left {
			byType[it.objectType] = append(byType[it.objectType], it.id)
		}
		segs := map[string]map[uint64]int{}
		for _, it := range left {
			if segs[it.objectType] == nil {
				segs[it.objectType] = map[uint64]int{}
			}
			segs[it.objectType][it.seg]++
		}
		for t, ids := range byType {
			if s.recordFailed(t, ids, "queue not drained before --shutdown-timeout") {
				s.done(segs[t])
			}
		}
	}
	if err := s.closeJournal(); err != nil {
		s.log.Error("closing the queue's journal", "err", err)
	}
	if n := s.failures.total(); n > 0 {
		s.log.Error("some ids were not indexed; they are listed for `indexsync run --ids-file`", "ids", n, "files", s.failures.paths())
	} else {
		s.log.Info("queue drained")
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// worker indexes queued ids in bulk until the queue is closed and empty.
func (s *Server) worker(ctx context.Context) {
	for ctx.Err() == nil {
		b, ok := s.queue.Pop(ctx, s.cfg.BatchSize)
		if !ok {
			return
		}
		kind, _ := sunbird.KindNamed(b.objectType) // queued by handleSync after parse checked it
		_, rejected, err := s.indexBatch(ctx, "background", kind, b.ids)
		saved := true
		switch {
		case err != nil:
			saved = s.recordFailed(b.objectType, b.ids, err.Error())
		case len(rejected) > 0:
			saved = s.recordFailed(b.objectType, rejected, "document rejected by the search engine")
		}
		if saved {
			// indexed, or listed in the failed-ids file: the journal may let
			// them go. Otherwise they stay there and are retried after a restart.
			s.done(b.segs)
		}
	}
}

// indexBatch loads and indexes ids; it returns per-id success and the ids
// whose documents the engine rejected. An id fails when it has no row, when
// its document was rejected, or (err) when a backend failed for the batch.
func (s *Server) indexBatch(ctx context.Context, mode string, kind sunbird.Kind, ids []string) (map[string]bool, []string, error) {
	out := make(map[string]bool, len(ids))
	start := time.Now()
	objectType := kind.Name
	res, err := s.loader.Documents(ctx, kind, ids)
	if err != nil {
		s.count(objectType, mode, "failed", len(ids))
		s.log.Error("read from Cassandra failed; ids not indexed", "mode", mode, "objectType", objectType, "ids", len(ids), "first", ids[0], "err", err)
		return nil, nil, err
	}
	w := s.writer
	if mode == "sync" && s.cfg.SyncWriter != nil {
		w = s.cfg.SyncWriter
	}
	failed, err := w.Write(ctx, kind, res.Docs)
	s.metrics.bulkSeconds.WithLabelValues(objectType).Observe(time.Since(start).Seconds())
	if err != nil {
		s.count(objectType, mode, "failed", len(ids))
		s.log.Error("indexing failed; ids not indexed", "mode", mode, "objectType", objectType, "ids", len(ids), "first", ids[0], "err", err)
		return nil, nil, err
	}
	for _, id := range res.NotFound {
		out[id] = false
	}
	var indexed int
	var rejected []string
	for id := range res.Docs {
		if reason, bad := failed[id]; bad {
			out[id] = false
			rejected = append(rejected, id)
			s.log.Warn("document rejected", "objectType", objectType, "id", id, "reason", reason)
		} else {
			out[id] = true
			indexed++
		}
	}
	for id, reason := range res.Failed {
		out[id] = false
		rejected = append(rejected, id)
		s.log.Warn("document rejected", "objectType", objectType, "id", id, "reason", reason)
	}
	s.count(objectType, mode, "indexed", indexed)
	s.count(objectType, mode, "rejected", len(rejected))
	s.count(objectType, mode, "not_found", len(res.NotFound))
	if len(res.NotFound) > 0 && mode == "background" {
		s.log.Warn("ids not found in Cassandra", "objectType", objectType, "count", len(res.NotFound), "first", res.NotFound[0])
	}
	return out, rejected, nil
}

func (s *Server) count(objectType, mode, outcome string, n int) {
	if n > 0 {
		s.metrics.ids.WithLabelValues(objectType, mode, outcome).Add(float64(n))
	}
}
