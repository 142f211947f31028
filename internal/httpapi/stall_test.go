package httpapi_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// syncBuffer is a log destination tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// padAudit adds n audit rows of about 1 KiB each to recommendation recID,
// enough for an export to outgrow every socket buffer between it and a
// client that does not read.
func (e *env) padAudit(recID string, n int) {
	e.t.Helper()
	pad := strings.Repeat("p", 1000)
	q := `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp)
SELECT 'pad-' || ?2 || '-' || printf('%08d', i), 'op_operator', 'modify', ?2, '{"pad":"` + pad + `"}', strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-' || i || ' seconds') FROM seq`
	args := []any{n, recID}
	if e.s.Engine == store.Postgres {
		q = `INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp)
SELECT 'pad-' || $2 || '-' || lpad(i::text, 8, '0'), 'op_operator', 'modify', $2, '{"pad":"` + pad + `"}', now() - i * interval '1 second' FROM generate_series(1, $1) AS i`
	}
	if _, err := e.s.Write.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

// stalledGet sends a GET with a tiny receive buffer and never reads the
// answer: the server's writes block as soon as the socket buffers fill.
func (e *env) stalledGet(path, token string) net.Conn {
	e.t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n\r\n", path, token)
	return conn
}

// TestStalledExportsHoldNoConnection is the attack of an operator who asks
// for more exports (rows or proof) than the pool has connections and never
// reads them:
// every other request must still be served (on main, lists, actions, logins
// and /ready stopped until the sockets closed), and clients leaving an
// export are not server errors.
func TestStalledExportsHoldNoConnection(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		logs := &syncBuffer{}
		e := newEnvConfig(t, s, func(c *httpapi.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		})
		ids := e.fixture(82, 0)
		for _, id := range ids[:80] {
			e.padAudit(id, 100) // ~8 MiB of NDJSON per export in all
		}
		op := e.as(review.RoleOperator)
		var conns []net.Conn
		for i := 0; i < 12; i++ { // the pool has 8 connections: 12 of each kind
			conns = append(conns, e.stalledGet("/api/operator/audit-logs/export?format=ndjson", op),
				e.stalledGet("/api/operator/audit-logs/export?format=proof", op))
		}
		e.waitInflight("read", 24)
		// Every export reads its first pages, fills its socket and blocks
		// writing: then none may hold a connection (on main the exports
		// held them until their clients left).
		for deadline := time.Now().Add(time.Minute); s.Read.Stats().InUse > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stalled exports still hold %d database connections", s.Read.Stats().InUse)
			}
		}

		// A safety net, not a speed limit: with the exports holding the
		// connections these requests would wait for ever.
		client := &http.Client{Timeout: 25 * time.Second}
		for _, path := range []string{"/ready", "/api/operator/recommendations", "/api/operator/audit-logs?limit=5"} {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+op)
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s while exports stall: %v", path, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s while exports stall: %d", path, res.StatusCode)
			}
		}
		e.do(http.MethodPost, "/api/operator/recommendations/"+ids[81]+"/approve", op, map[string]any{}).must(t, http.StatusOK)

		// The attacker leaves: the exports end, and that is no server error.
		for _, c := range conns {
			c.Close()
		}
		e.waitInflight("read", 0)
		e.do(http.MethodGet, "/api/operator/recommendations", op, nil).must(t, http.StatusOK)
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) && (strings.Contains(line, "/audit-logs/export") || strings.Contains(line, "internal error")) {
				t.Errorf("a client leaving an export was logged as an error: %s", line)
			}
		}
	})
}
