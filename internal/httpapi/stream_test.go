package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/realtime"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// sse is an open live stream.
type sse struct {
	*realtime.Stream
	t      *testing.T
	status int
}

// openStream opens GET /api/realtime/stream (query may carry ?ticket=).
// headers are name, value pairs.
func (e *env) openStream(query string, headers ...string) *sse {
	e.t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	st, err := realtime.Dial(context.Background(), e.srv.Client(), e.srv.URL+"/api/realtime/stream"+query, h, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(st.Close)
	return &sse{Stream: st, t: e.t, status: st.Status}
}

// expect reads the next event and checks its type and recommendation.
func (st *sse) expect(typ, recID string) realtime.Frame {
	st.t.Helper()
	f, err := st.Next(20 * time.Second)
	if err != nil {
		st.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.Type != typ || (recID != "" && f.Data["recommendation_id"] != recID) {
		st.t.Fatalf("event %s %v, want %s for %s", f.Type, f.Raw, typ, recID)
	}
	return f
}

// TestStreamEventsResumeAndAccess: full events with a token and with a
// single-use ticket, redacted ones without, resume after a dropped
// connection with nothing lost or repeated, and the access rules.
func TestStreamEventsResumeAndAccess(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(6, 0)
		op := e.as(review.RoleOperator)

		full := e.openStream("", "Authorization", "Bearer "+op)
		anon := e.openStream("")
		if full.status != 200 || anon.status != 200 {
			t.Fatalf("stream status %d, %d", full.status, anon.status)
		}
		full.expect("connected", "")
		anon.expect("connected", "")

		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, map[string]any{}).must(t, 200)
		f := full.expect("recommendation_approved", ids[0])
		if f.Data["operator_id"] != "op_operator" || f.ID == "" || f.Timestamp.IsZero() {
			t.Errorf("full event %s", f.Raw)
		}
		a := anon.expect("recommendation_approved", "")
		if len(a.Data) != 0 || a.Timestamp.IsZero() {
			t.Errorf("anonymous event carries more than type and timestamp: %s", a.Raw)
		}
		// Dropped connection; two changes while away; resume.
		full.Close()
		lastID := f.ID
		e.do("POST", "/api/operator/recommendations/"+ids[1]+"/reject", op, map[string]any{"reason": "no"}).must(t, 200)
		e.do("POST", "/api/operator/recommendations/"+ids[2]+"/flag", op, map[string]any{"reason": "look"}).must(t, 200)
		anon.expect("recommendation_rejected", "")
		anon.expect("recommendation_flagged", "")
		resumed := e.openStream("", "Authorization", "Bearer "+op, "Last-Event-ID", lastID)
		if c := resumed.expect("connected", ""); c.ID != lastID {
			t.Errorf("connected id %s, want the resumed %s", c.ID, lastID)
		}
		r1 := resumed.expect("recommendation_rejected", ids[1])
		r2 := resumed.expect("recommendation_flagged", ids[2])
		e.do("POST", "/api/operator/recommendations/"+ids[3]+"/approve", op, map[string]any{}).must(t, 200)
		r3 := resumed.expect("recommendation_approved", ids[3]) // not ids[0] again
		seen := map[string]bool{lastID: true}
		for _, fr := range []realtime.Frame{r1, r2, r3} {
			if seen[fr.ID] {
				t.Errorf("event id %s repeated", fr.ID)
			}
			seen[fr.ID] = true
		}

		// New recommendations from the engine.
		ingested := testdb.Fixture(t, s, 7, 0)
		if c := resumed.expect("recommendation_created", ingested[6]); c.Data["user_id"] == "" {
			t.Errorf("created event without user_id: %s", c.Raw)
		}

		// Tickets: single use, token required, not for ingest.
		tk := e.do("POST", "/api/realtime/ticket", op, nil).must(t, 200).JSON(t)
		if tk["expires_in"] != float64(60) || tk["ticket"] == "" {
			t.Fatalf("ticket %v", tk)
		}
		ticket := tk["ticket"].(string)
		byTicket := e.openStream("?ticket=" + ticket)
		if byTicket.status != 200 {
			t.Fatalf("ticket stream: %d", byTicket.status)
		}
		byTicket.expect("connected", "")
		e.do("POST", "/api/operator/recommendations/"+ids[4]+"/approve", op, map[string]any{}).must(t, 200)
		if f := byTicket.expect("recommendation_approved", ids[4]); f.Data["operator_id"] != "op_operator" {
			t.Errorf("ticket stream not full: %s", f.Raw)
		}
		if again := e.openStream("?ticket=" + ticket); again.status != 401 {
			t.Errorf("reused ticket: %d, want 401", again.status)
		}
		if bad := e.openStream("?ticket=nonsense"); bad.status != 401 {
			t.Errorf("unknown ticket: %d, want 401", bad.status)
		}
		e.do("POST", "/api/realtime/ticket", "", nil).must(t, 401)
		e.do("POST", "/api/realtime/ticket", e.as(review.RoleIngest), nil).must(t, 403)
		if st := e.openStream("", "Authorization", "Bearer "+e.as(review.RoleIngest)); st.status != 403 {
			t.Errorf("ingest stream: %d, want 403", st.status)
		}
		if st := e.openStream("", "Authorization", "Bearer nonsense"); st.status != 401 {
			t.Errorf("bad token stream: %d, want 401", st.status)
		}
		// Ids are the log's sequence numbers.
		if _, err := strconv.ParseInt(r3.ID, 10, 64); err != nil {
			t.Errorf("event id %q", r3.ID)
		}
	})
}

// TestStreamLimits: anonymous streams can be turned off, the number of
// streams is bounded, a stream pings, and closing the streams (graceful
// shutdown) ends them.
func TestStreamLimits(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnvWith(t, s, func(c *httpapi.Config) {
			c.RealtimeAnonymousOff, c.MaxStreams, c.StreamPing = true, 1, 50*time.Millisecond
		})
		if st := e.openStream(""); st.status != 401 {
			t.Errorf("anonymous with SPENDSENSE_REALTIME_ANONYMOUS=off: %d, want 401", st.status)
		}
		op := e.as(review.RoleOperator)
		first := e.openStream("", "Authorization", "Bearer "+op)
		first.expect("connected", "")
		if second := e.openStream("", "Authorization", "Bearer "+op); second.status != 503 {
			t.Errorf("stream beyond the limit: %d, want 503", second.status)
		}
		for f := range first.Frames {
			if f.Type == "ping" {
				break
			}
		}
		e.api.CloseStreams()
		select {
		case <-first.Ended():
		case <-time.After(20 * time.Second):
			t.Fatal("stream still open after CloseStreams")
		}
	})
}

// TestStreamBodyIsNotChunked: the stream is delimited by its connection, so
// its bytes on the wire are the events themselves, with no chunk framing,
// and events written after the headers still arrive whole.
func TestStreamBodyIsNotChunked(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(1, 0)
		op := e.as(review.RoleOperator)
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := fmt.Fprintf(conn, "GET /api/realtime/stream HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n\r\n", op); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 0 || !resp.Close ||
			resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Transfer-Encoding %v, close %v, headers %v", resp.StatusCode, resp.TransferEncoding, resp.Close, resp.Header)
		}
		// The body is read straight off the connection: a chunk size line
		// here would fail the prefix checks.
		line := func() string {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v (so far %q)", err, l)
			}
			return l
		}
		if l := line(); !strings.HasPrefix(l, "id: ") {
			t.Fatalf("first line %q, want an id: line", l)
		}
		if l := line(); !strings.HasPrefix(l, "data: ") || !strings.Contains(l, `"connected"`) {
			t.Fatalf("second line %q, want the connected event", l)
		}
		line() // the blank line ending the event
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, map[string]any{}).must(t, 200)
		for {
			l := line()
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "id: ") {
				continue
			}
			if !strings.HasPrefix(l, "data: ") {
				t.Fatalf("line %q is neither id:, data: nor blank", l)
			}
			if strings.Contains(l, `"recommendation_approved"`) && strings.Contains(l, ids[0]) {
				return
			}
		}
	})
}
