package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// A handler that panics (here: the store's clock, which GET /stats reads
// inside its handler) is answered with the one problem shape, a 500 that
// says nothing of the panic, and the panic is logged; the server goes on
// serving. Without the recovery net/http would drop the connection.
func TestPanicAnsweredAsProblem(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		const secret = "clock-broke-7f3a"
		var broken atomic.Bool
		s.SetClock(func() time.Time {
			if broken.Load() {
				panic(secret)
			}
			return time.Now()
		})
		logs := &syncBuffer{}
		e := newEnvWith(t, s, func(c *httpapi.Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
		tok := e.as(review.RoleOperator)
		e.do("GET", "/api/operator/stats", tok, nil).must(t, 200)

		broken.Store(true)
		r := e.do("GET", "/api/operator/stats", tok, nil)
		broken.Store(false)

		r.must(t, 500)
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
		}
		// The same fields as any other problem the API answers.
		notFound := e.do("GET", "/api/operator/no-such-thing", tok, nil).must(t, 404).JSON(t)
		if got, want := keys(body), keys(notFound); got != want {
			t.Errorf("problem fields = %s, want %s (as a 404's)", got, want)
		}
		if body["status"] != float64(500) || body["title"] != "Internal Server Error" || body["detail"] != "internal error" {
			t.Errorf("body = %s", r.Body)
		}
		for _, leak := range []string{secret, "panic", "goroutine", ".go:"} {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("body tells the client %q: %s", leak, r.Body)
			}
		}
		if !logged(logs.String(), "ERROR", "internal error", secret) {
			t.Errorf("the panic is not logged as an internal error:\n%s", logs.String())
		}

		e.do("GET", "/api/operator/stats", tok, nil).must(t, 200) // still serving
	})
}

// keys is an object's field names, sorted and joined.
func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// logged says whether a JSON log line has that level and message and an
// error containing want.
func logged(logs, level, msg, want string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Level, Msg, Error string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == level && rec.Msg == msg && strings.Contains(rec.Error, want) {
			return true
		}
	}
	return false
}
