package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// long reports whether the long variants are on (SPENDSENSE_LONG_TESTS=1).
func long() bool { return os.Getenv("SPENDSENSE_LONG_TESTS") == "1" }

// TestCrashDuringWrites kills a real server with SIGKILL while clients run
// bulk approvals and ingests through it, restarts it, and checks that the
// database holds every invariant and every acknowledged write survived.
func TestCrashDuringWrites(t *testing.T) {
	crashes := 3
	if long() {
		crashes = 10
	}
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := testdb.URL(t, engine)
			ids, tokens := seedDB(t, dbURL, 3000)
			op, ing := tokens[review.RoleOperator], tokens[review.RoleIngest]
			var acked sync.Map // recommendation id → "approved" | "ingested", acknowledged with 200
			var requests, killedMidFlight atomic.Int64
			next := atomic.Int64{}
			for crash := 0; crash < crashes; crash++ {
				srv := startServer(t, dbURL)
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						for ctx.Err() == nil {
							requests.Add(1)
							var res result
							if w%2 == 0 {
								start := int(next.Add(100)) - 100
								batch := make([]string, 0, 100)
								for i := start; i < start+100; i++ {
									batch = append(batch, ids[i%len(ids)])
								}
								res = call(srv.url, "POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": batch})
								if res.status == 200 {
									for _, a := range res.body["approved_ids"].([]any) {
										acked.Store(a.(string), "approved")
									}
								}
							} else {
								batch := make([]map[string]any, 50)
								base := fmt.Sprintf("crash%d_w%d_%d", crash, w, requests.Load())
								for i := range batch {
									batch[i] = map[string]any{"id": fmt.Sprintf("%s_%d", base, i), "user_id": "user_1", "persona_primary": "student",
										"type": "article", "title": "t", "rationale": "r", "priority": "low", "generated_at": "2026-11-01T00:00:00Z",
										"guardrails_passed": map[string]any{"tone_check": true, "advice_check": true, "eligibility_check": true}}
								}
								res = call(srv.url, "POST", "/api/ingest/recommendations", ing, map[string]any{"recommendations": batch})
								if res.status == 200 {
									for _, b := range batch {
										acked.Store(b["id"].(string), "ingested")
									}
								}
							}
							if res.err != nil {
								killedMidFlight.Add(1)
							} else if res.status >= 500 {
								t.Errorf("5xx before the crash: %d %v", res.status, res.body)
							}
						}
					}(w)
				}
				window := time.Duration(400+150*(crash%4)) * time.Millisecond
				if long() {
					window *= 4
				}
				time.Sleep(window)
				cancel()   // no new requests; those in flight stay in flight
				srv.kill() // SIGKILL mid-flight
				wg.Wait()
				checkInvariants(t, dbURL)
			}
			// Every acknowledged write is there after the crashes.
			s, err := store.Open(context.Background(), dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n := 0
			acked.Range(func(k, v any) bool {
				n++
				rec, err := s.GetRecommendation(context.Background(), k.(string))
				if err != nil {
					t.Errorf("acknowledged %s lost: %v", k, err)
					return true
				}
				if v == "approved" && rec.Status != review.StatusApproved {
					t.Errorf("acknowledged approval of %s lost: status %s", k, rec.Status)
				}
				return true
			})
			t.Logf("%s: %d SIGKILLs, %d requests, %d cut off by a kill, %d acknowledged writes all present, invariants hold",
				engine, crashes, requests.Load(), killedMidFlight.Load(), n)
		})
	}
}
