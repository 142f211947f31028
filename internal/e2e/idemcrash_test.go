package e2e

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestIdempotentRetryAfterKill approves with an Idempotency-Key from many
// clients at once, kills the server (SIGKILL) in the middle, starts it again
// and retries, with the same key, every approval whose answer was lost:
// each retry must get the first response (200), never a 409 saying the
// item is already approved. The record of a key's response is committed
// in the action's own transaction, so there is no moment at which the
// action is done and its record is not.
func TestIdempotentRetryAfterKill(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := testdb.URL(t, engine)
			ids, tokens := seedDB(t, dbURL, 2000)
			op := tokens[review.RoleOperator]
			// approve returns the status, whether the answer was a replay,
			// and whether a 409 only said the first attempt's claim on the
			// key is still held (it is, for IdempotencyLease, when the kill
			// came before the action committed).
			approve := func(base, id string) (int, bool, error) {
				req, _ := http.NewRequest("POST", base+"/api/operator/recommendations/"+id+"/approve", bytes.NewReader([]byte(`{"notes":"ok"}`)))
				req.Header.Set("Authorization", "Bearer "+op)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "kill-"+id)
				res, err := client.Do(req)
				if err != nil {
					return 0, false, err
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode, res.Header.Get("Idempotent-Replayed") == "true", nil
			}
			srv := startServer(t, dbURL)
			var mu sync.Mutex
			var lost []string
			var wg sync.WaitGroup
			next := make(chan string)
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for id := range next {
						if _, _, err := approve(srv.url, id); err != nil {
							mu.Lock()
							lost = append(lost, id)
							mu.Unlock()
						}
					}
				}()
			}
			killAt := time.Now().Add(1500 * time.Millisecond)
			for _, id := range ids {
				if time.Now().After(killAt) {
					srv.kill()
					break
				}
				next <- id
			}
			close(next)
			wg.Wait()
			if len(lost) == 0 {
				t.Skip("no request was in flight at the kill; nothing to retry")
			}
			srv = startServer(t, dbURL)
			replayed, conflicts := 0, 0
			for _, id := range lost {
				status, replay, err := approve(srv.url, id)
				for deadline := time.Now().Add(store.IdempotencyLease + 10*time.Second); err == nil && status == http.StatusConflict && !replay &&
					inProgress(t, srv.url, op, id) && time.Now().Before(deadline); {
					time.Sleep(time.Second) // Retry-After
					status, replay, err = approve(srv.url, id)
				}
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case status == http.StatusOK && replay:
					replayed++
				case status == http.StatusOK:
				default:
					conflicts++
					t.Errorf("retry of %s with its key after the kill: %d, want 200", id, status)
				}
			}
			t.Logf("%s: %d approvals lost their answer in the kill; on retry %d were replayed, %d acted afresh, %d refused",
				engine, len(lost), replayed, len(lost)-replayed-conflicts, conflicts)
			checkInvariants(t, dbURL)
		})
	}
}

// inProgress reports whether the recommendation is still pending: a 409 for
// a keyed approval of a pending item can only be the key's earlier claim,
// still held, never "already approved".
func inProgress(t *testing.T, base, token, id string) bool {
	t.Helper()
	r := call(base, "GET", "/api/operator/recommendations/"+id, token, nil)
	return r.status == http.StatusOK && r.body["status"] == "pending"
}
