package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestOverloadIsRefusedAndChangesNothing fills the one write slot of a
// server limited to one action at a time with an approval whose body has
// not arrived yet, and checks that another action is answered 503 with
// Retry-After at once and does nothing, that reads and health checks still
// pass, and that both actions succeed once the slot is free.
func TestOverloadIsRefusedAndChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnvConfig(t, s, func(c *httpapi.Config) { c.MaxInflightWrites = 1 })
		ids := e.fixture(2, 0)
		token := e.as(review.RoleOperator)

		// The first approval holds the slot while it waits for its body.
		body, send := io.Pipe()
		defer send.Close() // a failing test must not leave the server waiting for this body
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/operator/recommendations/"+ids[0]+"/approve", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		firstDone := make(chan *http.Response, 1)
		go func() {
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				close(firstDone)
				return
			}
			firstDone <- res
		}()

		// Wait until the first request holds the slot.
		for deadline := time.Now().Add(10 * time.Second); ; {
			m := e.do(http.MethodGet, "/metrics", "", nil).must(t, http.StatusOK)
			if strings.Contains(string(m.Body), `spendsense_http_inflight_requests{kind="write"} 1`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first approval never started")
			}
			time.Sleep(10 * time.Millisecond)
		}
		shed := e.do(http.MethodPost, "/api/operator/recommendations/"+ids[1]+"/approve", token, `{"notes":`)
		shed.must(t, http.StatusServiceUnavailable)
		if shed.Header.Get("Retry-After") == "" || !strings.HasPrefix(shed.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("503 headers: %v", shed.Header)
		}
		// A well-formed action is refused too, and does nothing.
		e.do(http.MethodPost, "/api/operator/recommendations/"+ids[1]+"/approve", token, map[string]any{}).must(t, http.StatusServiceUnavailable)
		got := e.do(http.MethodGet, "/api/operator/recommendations/"+ids[1], token, nil).must(t, http.StatusOK).JSON(t)
		if got["status"] != "pending" || e.auditCount(ids[1]) != 0 {
			t.Errorf("refused approval changed the recommendation: status %v, %d audit rows", got["status"], e.auditCount(ids[1]))
		}
		e.do(http.MethodGet, "/health", "", nil).must(t, http.StatusOK)

		// Free the slot: the first approval completes, then the second.
		if _, err := send.Write([]byte(`{"notes":"ok"}`)); err != nil {
			t.Fatal(err)
		}
		send.Close()
		res, ok := <-firstDone
		if !ok {
			t.FailNow()
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("first approval: %d", res.StatusCode)
		}
		e.do(http.MethodPost, "/api/operator/recommendations/"+ids[1]+"/approve", token, map[string]any{}).must(t, http.StatusOK)
	})
}
