package httpapi_test

import (
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
