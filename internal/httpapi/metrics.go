package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spendsense/operator-api/internal/store"
)

// countedActions and actionOutcomes are the label values of
// spendsense_actions_total (API.count).
var (
	countedActions = []string{"approve", "reject", "modify", "flag", "resolve_flag", "bulk_approve"}
	actionOutcomes = []string{"ok", "rejected", "conflict", "error"}
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	actions  *prometheus.CounterVec
	streams  prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, s *store.Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spendsense_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spendsense_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spendsense_actions_total", Help: "Review actions by kind and outcome (ok, conflict, error).",
		}, []string{"action", "outcome"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spendsense_realtime_streams", Help: "Live streams (GET /api/realtime/stream) open on this process.",
		}),
	}
	// The fixed label sets at zero from the start (see overload.go).
	for _, action := range countedActions {
		for _, outcome := range actionOutcomes {
			m.actions.WithLabelValues(action, outcome)
		}
	}
	reg.MustRegister(m.requests, m.latency, m.actions, m.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s != nil {
		reg.MustRegister(newQueueCollector(s))
	}
	return m
}

// queueCollector reads queue depths from the database at scrape time, so
// every process sharing a database reports the same figures. When the
// database does not answer in time (a loaded or failing database), the
// scrape still succeeds: the depths are left out and
// spendsense_queue_depth_up is 0, so that the request and action metrics,
// which matter most during such trouble, keep being collected.
type queueCollector struct {
	s          *store.Store
	pending    *prometheus.Desc
	deliveries *prometheus.Desc
	up         *prometheus.Desc
}

func newQueueCollector(s *store.Store) *queueCollector {
	return &queueCollector{
		s:          s,
		pending:    prometheus.NewDesc("spendsense_review_queue_depth", "Recommendations waiting for review, by status (pending, flagged).", []string{"status"}, nil),
		deliveries: prometheus.NewDesc("spendsense_deliveries", "Deliveries by status (scheduled, queued, delivered, failed, cancelled).", []string{"status"}, nil),
		up: prometheus.NewDesc("spendsense_queue_depth_up",
			"1 if this scrape read the queue depths from the database, 0 if the database did not answer in time (the depth series are then absent).", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.deliveries
	ch <- c.up
}

// queueDepthTimeout bounds the scrape's database query.
const queueDepthTimeout = 2 * time.Second

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueDepthTimeout)
	defer cancel()
	depth, err := c.s.QueueDepth(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for status, n := range depth.Review {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n), status)
	}
	for status, n := range depth.Deliveries {
		ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.GaugeValue, float64(n), status)
	}
}
