package syncapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/indexsync/indexsync/internal/journal"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	ids         *prometheus.CounterVec
	bulkSeconds *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, q *queue, capacity int, j *journal.Journal) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "indexsync_http_requests_total",
			Help: "Sync API calls by route and HTTP status.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "indexsync_http_request_duration_seconds",
			Help:    "Sync API call latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route"}),
		ids: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "indexsync_sync_ids_total",
			Help: "Ids handled by the Sync API, by object type, mode (sync/background) and outcome (queued, indexed, rejected, not_found, failed, refused).",
		}, []string{"object_type", "mode", "outcome"}),
		bulkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "indexsync_bulk_request_duration_seconds",
			Help:    "Time to read a block of objects from Cassandra and index it in bulk.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"object_type"}),
	}
	reg.MustRegister(m.requests, m.duration, m.ids, m.bulkSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "indexsync_queue_depth",
			Help: "Ids waiting for background indexing.",
		}, func() float64 { return float64(q.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "indexsync_queue_capacity",
			Help: "Ids the background queue can hold.",
		}, func() float64 { return float64(capacity) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "indexsync_queue_journal_ids",
			Help: "Ids accepted for background indexing and kept in the journal until indexed or recorded as failed.",
		}, func() float64 { return float64(j.Pending()) }),
	)
	return m
}
