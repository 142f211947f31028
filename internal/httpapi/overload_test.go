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

// heldRequest is a POST whose body has not arrived yet: it holds its
// admission slot until finish sends the body.
type heldRequest struct {
	send *io.PipeWriter
	done chan *http.Response
}

// hold starts a POST to path and waits until the server counts it in flight
// under kind.
func (e *env) hold(path, token, kind string) *heldRequest {
	e.t.Helper()
	body, send := io.Pipe()
	e.t.Cleanup(func() { send.Close() }) // a failing test must not leave the server waiting
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	h := &heldRequest{send: send, done: make(chan *http.Response, 1)}
	go func() {
		res, err := e.srv.Client().Do(req)
		if err != nil {
			e.t.Error(err)
			close(h.done)
			return
		}
		h.done <- res
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		m := e.do(http.MethodGet, "/metrics", "", nil).must(e.t, http.StatusOK)
		if strings.Contains(string(m.Body), `spendsense_http_inflight_requests{kind="`+kind+`"} 1`) {
			return h
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the held %s request never started", kind)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish sends the held request's body and returns its status.
func (h *heldRequest) finish(t *testing.T, body string) int {
	t.Helper()
	if _, err := h.send.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	h.send.Close()
	res, ok := <-h.done
	if !ok {
		t.FailNow()
	}
	res.Body.Close()
	return res.StatusCode
}

// TestOverloadIsRefusedAndChangesNothing fills the one write slot, and the
// one bulk slot, of a server limited to one of each at a time with requests
// whose bodies have not arrived yet, and checks that another request of the
// same kind is answered 503 with Retry-After at once and does nothing, that
// the other kind, reads and health checks still pass, and that everything
// succeeds once the slots are free.
func TestOverloadIsRefusedAndChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnvConfig(t, s, func(c *httpapi.Config) { c.MaxInflightWrites, c.MaxInflightBulk = 1, 1 })
		ids := e.fixture(4, 0)
		token := e.as(review.RoleOperator)
		path := func(id, suffix string) string { return "/api/operator/recommendations/" + id + suffix }

		first := e.hold(path(ids[0], "/approve"), token, "write")
		shed := e.do(http.MethodPost, path(ids[1], "/approve"), token, `{"notes":`)
		shed.must(t, http.StatusServiceUnavailable)
		if shed.Header.Get("Retry-After") == "" || !strings.HasPrefix(shed.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("503 headers: %v", shed.Header)
		}
		// A well-formed action is refused too, and does nothing.
		e.do(http.MethodPost, path(ids[1], "/approve"), token, map[string]any{}).must(t, http.StatusServiceUnavailable)
		got := e.do(http.MethodGet, path(ids[1], ""), token, nil).must(t, http.StatusOK).JSON(t)
		if got["status"] != "pending" || e.auditCount(ids[1]) != 0 {
			t.Errorf("refused approval changed the recommendation: status %v, %d audit rows", got["status"], e.auditCount(ids[1]))
		}
		e.do(http.MethodGet, "/health", "", nil).must(t, http.StatusOK)

		// Bulk approvals have a slot of their own: the full write slot
		// does not stop one, a full bulk slot does.
		bulkPath := "/api/operator/recommendations/bulk-approve"
		e.do(http.MethodPost, bulkPath, token, map[string]any{"recommendation_ids": []string{ids[2]}}).must(t, http.StatusOK)
		bulk := e.hold(bulkPath, token, "bulk")
		e.do(http.MethodPost, bulkPath, token, map[string]any{"recommendation_ids": []string{ids[3]}}).must(t, http.StatusServiceUnavailable)
		if got := e.do(http.MethodGet, path(ids[3], ""), token, nil).must(t, http.StatusOK).JSON(t); got["status"] != "pending" {
			t.Errorf("refused bulk approval changed the recommendation: status %v", got["status"])
		}

		// Free the slots: the held requests complete, then the refused ones.
		if code := first.finish(t, `{"notes":"ok"}`); code != http.StatusOK {
			t.Fatalf("held approval: %d", code)
		}
		if code := bulk.finish(t, `{"recommendation_ids":["`+ids[3]+`"]}`); code != http.StatusOK {
			t.Fatalf("held bulk approval: %d", code)
		}
		e.do(http.MethodPost, path(ids[1], "/approve"), token, map[string]any{}).must(t, http.StatusOK)
	})
}
