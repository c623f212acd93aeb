// Package runmetrics exposes the counters of a long run (--metrics-listen)
// for Prometheus, on a registry of its own.
package runmetrics

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/config"
)

// Metrics are the counters of one run.
type Metrics struct {
	reg  *prometheus.Registry
	docs *prometheus.CounterVec
	reqs prometheus.Counter
	rets prometheus.Counter
}

// New returns the counters, registered with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
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

// Observe counts one block.
func (m *Metrics) Observe(d checkpoint.Counts) {
	m.docs.WithLabelValues("succeeded").Add(float64(d.Succeeded))
	m.docs.WithLabelValues("failed").Add(float64(d.Failed))
	m.docs.WithLabelValues("skipped").Add(float64(d.Skipped))
	m.reqs.Add(float64(d.RequestNo))
	m.rets.Add(float64(d.Retries))
}

// Serve serves GET /metrics on addr until the returned func is called.
func (m *Metrics) Serve(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, config.Usagef("--metrics-listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
