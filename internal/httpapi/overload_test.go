package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// heldRequest is a POST whose handler is waiting on a row lock held by
// the test (lockRows): it holds its admission slot until the lock goes.
type heldRequest struct {
	done chan *http.Response
}

// lockRows makes writes to the recommendations ids wait until the returned
// release is called: on PostgreSQL by locking their rows in a transaction of
// the test's own; on SQLite (one writer per file) by holding the file's
// write lock from another connection.
func (e *env) lockRows(ids ...string) (release func()) {
	e.t.Helper()
	ctx := context.Background()
	var db *sql.DB
	if e.s.Engine == store.Postgres {
		db = e.s.Write
	} else {
		var path string
		var seq int
		var name string
		if err := e.s.Read.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
			e.t.Fatal(err)
		}
		var err error
		if db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"); err != nil {
			e.t.Fatal(err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.s.Engine == store.Postgres {
		_, err = conn.ExecContext(ctx, `BEGIN`)
		for _, id := range ids {
			if err == nil {
				_, err = conn.ExecContext(ctx, `SELECT recommendation_id FROM recommendations WHERE recommendation_id = $1 FOR UPDATE`, id)
			}
		}
	} else {
		_, err = conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
			conn.Close()
			if db != e.s.Write {
				db.Close()
			}
		})
	}
	e.t.Cleanup(release) // a failing test must not leave the server waiting
	return release
}

// hold starts a POST to path with body and waits until the server counts it
// in flight under kind (its handler is waiting on a lock from lockRows).
func (e *env) hold(path, token, kind, body string) *heldRequest {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	h := &heldRequest{done: make(chan *http.Response, 1)}
	go func() {
		res, err := e.srv.Client().Do(req)
		if err != nil {
			e.t.Error(err)
			close(h.done)
			return
		}
		h.done <- res
	}()
	e.waitInflight(kind, 1)
	return h
}

// waitInflight waits until the server counts n requests of kind in flight.
func (e *env) waitInflight(kind string, n int) {
	e.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		// A scrape can fail on a loaded machine (the queue-depth query has
		// a deadline of its own): look again.
		m := e.do(http.MethodGet, "/metrics", "", nil)
		if m.Status == http.StatusOK && strings.Contains(string(m.Body), `spendsense_http_inflight_requests{kind="`+kind+`"} `+strconv.Itoa(n)+"\n") {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("never %d %s requests in flight", n, kind)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait returns the held request's status once it has finished.
func (h *heldRequest) wait(t *testing.T) int {
	t.Helper()
	res, ok := <-h.done
	if !ok {
		t.FailNow()
	}
	res.Body.Close()
	return res.StatusCode
}

// TestOverloadIsRefusedAndChangesNothing fills the one write slot, and the
// one bulk slot, of a server limited to one of each at a time with requests
// waiting on a lock, and checks that another request of the same kind is
// answered 503 with Retry-After at once and does nothing, that the other
// kind, reads and health checks still pass, and that everything succeeds
// once the slots are free.
func TestOverloadIsRefusedAndChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnvConfig(t, s, func(c *httpapi.Config) { c.MaxInflightWrites, c.MaxInflightBulk = 1, 1 })
		ids := e.fixture(4, 0)
		token := e.as(review.RoleOperator)
		path := func(id, suffix string) string { return "/api/operator/recommendations/" + id + suffix }
		bulkPath := "/api/operator/recommendations/bulk-approve"

		release := e.lockRows(ids[0], ids[2])
		first := e.hold(path(ids[0], "/approve"), token, "write", `{"notes":"ok"}`)
		shed := e.do(http.MethodPost, path(ids[1], "/approve"), token, map[string]any{})
		shed.must(t, http.StatusServiceUnavailable)
		if shed.Header.Get("Retry-After") == "" || !strings.HasPrefix(shed.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("503 headers: %v", shed.Header)
		}
		got := e.do(http.MethodGet, path(ids[1], ""), token, nil).must(t, http.StatusOK).JSON(t)
		if got["status"] != "pending" || e.auditCount(ids[1]) != 0 {
			t.Errorf("refused approval changed the recommendation: status %v, %d audit rows", got["status"], e.auditCount(ids[1]))
		}
		e.do(http.MethodGet, "/health", "", nil).must(t, http.StatusOK)
		// The shed request is counted under the route it asked for.
		m := string(e.do(http.MethodGet, "/metrics", "", nil).must(t, http.StatusOK).Body)
		if !strings.Contains(m, `spendsense_http_requests_total{method="POST",route="/api/operator/recommendations/{id}/approve",status="503"} 1`) {
			t.Errorf("the shed approval is not counted under its route:\n%s", grepLines(m, "spendsense_http_requests_total"))
		}

		// Bulk approvals have a slot of their own: the full write slot
		// does not stop one, a full bulk slot does.
		bulk := e.hold(bulkPath, token, "bulk", `{"recommendation_ids":["`+ids[2]+`"]}`)
		e.do(http.MethodPost, bulkPath, token, map[string]any{"recommendation_ids": []string{ids[3]}}).must(t, http.StatusServiceUnavailable)
		if got := e.do(http.MethodGet, path(ids[3], ""), token, nil).must(t, http.StatusOK).JSON(t); got["status"] != "pending" {
			t.Errorf("refused bulk approval changed the recommendation: status %v", got["status"])
		}

		// Free the slots: the held requests complete, then the refused ones.
		release()
		if code := first.wait(t); code != http.StatusOK {
			t.Fatalf("held approval: %d", code)
		}
		if code := bulk.wait(t); code != http.StatusOK {
			t.Fatalf("held bulk approval: %d", code)
		}
		e.do(http.MethodPost, path(ids[1], "/approve"), token, map[string]any{}).must(t, http.StatusOK)
		e.do(http.MethodPost, bulkPath, token, map[string]any{"recommendation_ids": []string{ids[3]}}).must(t, http.StatusOK)
	})
}

// TestSlowBodiesHoldNoSlot is the attack of a client that sends its body a
// byte at a time: with every write slot (one here) wanted by such clients,
// logins and actions must still be served, because no slot is reserved
// until the body is in.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnvConfig(t, s, func(c *httpapi.Config) { c.MaxInflightWrites, c.MaxInflightBulk = 1, 1 })
		ids := e.fixture(2, 0)
		token := e.as(review.RoleOperator)
		addr := strings.TrimPrefix(e.srv.URL, "http://")
		for _, target := range []string{"/api/auth/login", "/api/operator/recommendations/" + ids[0] + "/approve",
			"/api/operator/recommendations/bulk-approve"} {
			for i := 0; i < 4; i++ {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", target, token)
			}
		}
		// The slow requests are all waiting for their bodies, holding
		// nothing: every slot is free.
		time.Sleep(100 * time.Millisecond) // let the server read their headers
		m := string(e.do(http.MethodGet, "/metrics", "", nil).must(t, http.StatusOK).Body)
		for _, kind := range []string{"write", "bulk"} {
			if strings.Contains(m, `spendsense_http_inflight_requests{kind="`+kind+`"} 1`) {
				t.Errorf("a slow body holds the %s slot", kind)
			}
		}
		e.do(http.MethodPost, "/api/auth/login", "", map[string]any{"operator_id": "op_operator", "password": testPassword}).must(t, http.StatusOK)
		e.do(http.MethodPost, "/api/operator/recommendations/"+ids[1]+"/approve", token, map[string]any{}).must(t, http.StatusOK)
		e.do(http.MethodPost, "/api/operator/recommendations/bulk-approve", token,
			map[string]any{"recommendation_ids": []string{ids[0]}}).must(t, http.StatusOK)
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
