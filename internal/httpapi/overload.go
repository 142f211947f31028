package httpapi

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Admission control.
//
// A server offered more than it can do must not queue without bound: every
// waiting request holds a connection, a goroutine and its buffers (the
// benchmark's approvals offered at 2,500/s against ~1,000/s of capacity
// took the server past 600 MiB and every answer past 5 s). So at most
// MaxInflightWrites actions and MaxInflightReads reads are served at once;
// one more is answered at once with 503 and Retry-After, which the clients
// retry (actions safely, with their Idempotency-Key). Writes and reads have
// separate limits so a flood of one never starves the other. Bulk approvals
// and ingest batches, each up to 1,000 items' work, have a smaller limit of
// their own (defaultMaxInflightBulk): 256 of them would be minutes of the
// writer's time, and their clients timed out waiting instead of hearing
// 503; and it must hold a dozen operators bulk-approving at the same moment
// (the concurrent-decisions test; the figures are in docs/BENCHMARKS.md).
// Paths outside /api/ (health, readiness, metrics, docs) are never refused.

const (
	defaultMaxInflightWrites = 256
	defaultMaxInflightReads  = 1024
	defaultMaxInflightBulk   = 32
)

// isBulk reports whether a write carries up to 1,000 items.
func isBulk(path string) bool {
	return path == recPath+"/bulk-approve" || strings.HasPrefix(path, "/api/ingest/")
}

type admission struct {
	writes, reads chan struct{} // nil: unlimited
	bulk          chan struct{}
	shed          *prometheus.CounterVec
	inflight      *prometheus.GaugeVec
}

func newAdmission(maxWrites, maxBulk, maxReads int, reg prometheus.Registerer) *admission {
	sem := func(n, def int) chan struct{} {
		switch {
		case n == 0:
			n = def
		case n < 0:
			return nil
		}
		return make(chan struct{}, n)
	}
	a := &admission{
		writes: sem(maxWrites, defaultMaxInflightWrites),
		reads:  sem(maxReads, defaultMaxInflightReads),
		bulk:   sem(maxBulk, defaultMaxInflightBulk),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spendsense_http_shed_total",
			Help: "Requests answered 503 because the server was already serving its limit of that kind (write, bulk or read).",
		}, []string{"kind"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spendsense_http_inflight_requests",
			Help: "/api/ requests being served now, by kind (write, bulk or read).",
		}, []string{"kind"}),
	}
	// Every kind from the start, at zero: a series that appears only after
	// the first shed request cannot be alerted on or graphed before it.
	for _, kind := range []string{"write", "bulk", "read"} {
		a.shed.WithLabelValues(kind)
		a.inflight.WithLabelValues(kind)
	}
	reg.MustRegister(a.shed, a.inflight)
	return a
}

func (a *admission) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The live stream has its own bound (Config.MaxStreams): a stream
		// lasts as long as its client, and a thousand of them would take
		// the read slots.
		if !strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == streamPath {
			next.ServeHTTP(w, r)
			return
		}
		sem, kind := a.reads, "read"
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			sem, kind = a.writes, "write"
			if isBulk(r.URL.Path) {
				sem, kind = a.bulk, "bulk"
			}
		}
		gauge := a.inflight.WithLabelValues(kind)
		if sem == nil {
			gauge.Inc()
			defer gauge.Dec()
			next.ServeHTTP(w, r)
			return
		}
		select {
		case sem <- struct{}{}:
			gauge.Inc()
			defer func() { gauge.Dec(); <-sem }()
			next.ServeHTTP(w, r)
		default:
			a.shed.WithLabelValues(kind).Inc()
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "the server is at its limit of concurrent "+kind+
				" requests; nothing was done: retry after a second (with the same Idempotency-Key for an action)")
		}
	})
}
