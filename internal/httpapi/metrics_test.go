package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// The declared series with fixed label sets exist, at zero, before the
// first event: an alert on a series that does not exist yet never fires.
func TestMetricsDeclaredFromStart(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	m := string(e.do("GET", "/metrics", "", nil).must(t, 200).Body)
	for _, want := range []string{
		`spendsense_http_shed_total{kind="bulk"} 0`,
		`spendsense_http_shed_total{kind="write"} 0`,
		`spendsense_http_shed_total{kind="read"} 0`,
		`spendsense_http_inflight_requests{kind="bulk"} 0`,
		`spendsense_actions_total{action="approve",outcome="ok"} 0`,
		`spendsense_actions_total{action="bulk_approve",outcome="conflict"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// seriesOf counts the series of a metric in a /metrics page.
func seriesOf(page, metric string) int {
	n := 0
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, metric+"{") {
			n++
		}
	}
	return n
}

// TestMethodFloodAddsNoSeries sends requests with made-up methods, as an
// unauthenticated client may: the request metrics must gain no series per
// method (each new label value is a series kept for the process's life).
func TestMethodFloodAddsNoSeries(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	e.do(http.MethodGet, "/health", "", nil).must(t, http.StatusOK)
	before := seriesOf(string(e.do(http.MethodGet, "/metrics", "", nil).must(t, http.StatusOK).Body), "spendsense_http_requests_total")
	for i := 0; i < 200; i++ {
		e.raw(fmt.Sprintf("M%d", i), "/health", nil, "")
		e.raw(fmt.Sprintf("X%d", i), "/api/operator/recommendations", nil, "")
	}
	page := string(e.do(http.MethodGet, "/metrics", "", nil).must(t, http.StatusOK).Body)
	if strings.Contains(page, `method="M1"`) || strings.Contains(page, `method="X199"`) {
		t.Errorf("a client's made-up method became a label value")
	}
	after := seriesOf(page, "spendsense_http_requests_total")
	if after-before > 4 { // "other" on two routes, and the /metrics scrape itself
		t.Errorf("400 requests with made-up methods added %d series (from %d to %d)", after-before, before, after)
	}
	if !strings.Contains(page, `method="other"`) {
		t.Errorf("made-up methods are not counted as \"other\"")
	}
}

// TestMetricsWithoutTheQueueDepths: when the queue-depth query fails (here
// its table is gone; under load it is its 2 s deadline), /metrics still
// answers 200 with every other metric, the depths left out and
// spendsense_queue_depth_up at 0. It used to answer 500 for the whole
// scrape, so a loaded server lost its request metrics exactly when they
// mattered.
func TestMetricsWithoutTheQueueDepths(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.fixture(2, 0)
		exec := func(q string) {
			t.Helper()
			if _, err := s.Write.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		m := string(e.do("GET", "/metrics", "", nil).must(t, http.StatusOK).Body)
		for _, want := range []string{"spendsense_queue_depth_up 1", `spendsense_review_queue_depth{status="pending"} 2`} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		exec(`ALTER TABLE deliveries RENAME TO deliveries_away`)
		m = string(e.do("GET", "/metrics", "", nil).must(t, http.StatusOK).Body)
		exec(`ALTER TABLE deliveries_away RENAME TO deliveries`)
		for _, want := range []string{"spendsense_queue_depth_up 0", `spendsense_http_requests_total{`, `spendsense_actions_total{`} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics with the depths failing lacks %s", want)
			}
		}
		if strings.Contains(m, "spendsense_review_queue_depth{") {
			t.Errorf("/metrics reports depths it could not read")
		}
	})
}
