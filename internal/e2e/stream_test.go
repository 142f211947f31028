package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/realtime"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/testdb"
)

// liveStream is an open GET /api/realtime/stream on a server process.
type liveStream struct {
	*realtime.Stream
	t *testing.T
}

func openLiveStream(t *testing.T, base, token string, headers ...string) *liveStream {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	st, err := realtime.Dial(context.Background(), http.DefaultClient, base+"/api/realtime/stream", h, 10000) // no timeout: the response lasts
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if st.Status != 200 {
		t.Fatalf("stream: %d", st.Status)
	}
	ls := &liveStream{Stream: st, t: t}
	if f := ls.next(); f.Type != "connected" {
		t.Fatalf("first event %s, want connected", f.Raw)
	}
	return ls
}

// next is the next event other than ping, stats_updated and alert_triggered.
func (ls *liveStream) next() realtime.Frame {
	ls.t.Helper()
	f, err := ls.Next(30 * time.Second)
	if err != nil {
		ls.t.Fatal(err)
	}
	return f
}

// TestStreamAcrossProcesses: a stream on one server process sees every
// approval made through another, exactly once, also when they commit
// concurrently; a client resumes on the other process with Last-Event-ID
// and gets exactly what it missed; SIGTERM ends a process with a stream
// open.
func TestStreamAcrossProcesses(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := testdb.URL(t, engine)
			ids, tokens := seedDB(t, dbURL, 60)
			a, b := startServer(t, dbURL), startServer(t, dbURL)
			op := tokens[review.RoleOperator]
			st := openLiveStream(t, a.url, op)

			if r := call(b.url, "POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, map[string]any{}); r.status != 200 {
				t.Fatalf("approve through b: %d %v", r.status, r.body)
			}
			f := st.next()
			if f.Type != "recommendation_approved" || f.Data["recommendation_id"] != ids[0] || f.Data["operator_id"] != "e2e_operator" {
				t.Fatalf("event %s", f.Raw)
			}

			// 40 approvals at once through both processes: each arrives once.
			var wg sync.WaitGroup
			for i := 1; i <= 40; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					base := []string{a.url, b.url}[i%2]
					if r := call(base, "POST", "/api/operator/recommendations/"+ids[i]+"/approve", op, map[string]any{}); r.status != 200 {
						t.Errorf("approve %s: %d %v", ids[i], r.status, r.body)
					}
				}(i)
			}
			wg.Wait()
			got := map[string]int{}
			last := f.ID
			for len(got) < 40 {
				f := st.next()
				got[fmt.Sprint(f.Data["recommendation_id"])]++
				last = f.ID
			}
			for i := 1; i <= 40; i++ {
				if got[ids[i]] != 1 {
					t.Errorf("%s arrived %d times", ids[i], got[ids[i]])
				}
			}

			// Drop the connection; five more approvals; resume on b.
			st.Close()
			for i := 41; i <= 45; i++ {
				if r := call(b.url, "POST", "/api/operator/recommendations/"+ids[i]+"/approve", op, map[string]any{}); r.status != 200 {
					t.Fatalf("approve: %d", r.status)
				}
			}
			resumed := openLiveStream(t, b.url, op, "Last-Event-ID", last)
			for i := 41; i <= 45; i++ {
				if f := resumed.next(); f.Data["recommendation_id"] != ids[i] {
					t.Fatalf("resumed event %s, want %s", f.Raw, ids[i])
				}
			}
			if r := call(a.url, "POST", "/api/operator/recommendations/"+ids[46]+"/approve", op, map[string]any{}); r.status != 200 {
				t.Fatalf("approve: %d", r.status)
			}
			if f := resumed.next(); f.Data["recommendation_id"] != ids[46] {
				t.Fatalf("after the replay: %s, want %s", f.Raw, ids[46])
			}

			// SIGTERM with a stream open: the process ends (stop fails the
			// test after 30 s) and so does the stream.
			b.stop()
			select {
			case <-resumed.Ended():
			case <-time.After(10 * time.Second):
				t.Fatal("stream still open after its server stopped")
			}
		})
	}
}
