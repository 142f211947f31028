package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestSeveralServersOneDatabase starts several real server processes on one
// database and has many clients race every kind of action over overlapping
// items through all of them. Afterwards: no 5xx, at most one decision per
// item, exactly one audit row per successful change and none otherwise,
// and `spendsense check` passes. Undo races in too: an undone approval or
// rejection is no decision any more.
func TestSeveralServersOneDatabase(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			procs, clients, items, rounds := 3, 16, 200, 40
			if long() {
				clients, items, rounds = 32, 1000, 250
			}
			if engine == store.SQLite {
				procs = 2 // several processes on one SQLite file work (one writer at a time), but it is not the scale-out story
			}
			dbURL := testdb.URL(t, engine)
			ids, tokens := seedDB(t, dbURL, items)
			var servers []*server
			for i := 0; i < procs; i++ {
				servers = append(servers, startServer(t, dbURL))
			}
			var stats counter
			decisions := make(map[string]int) // successful approvals+rejections per item
			var mu sync.Mutex
			decided := func(id string, n int) {
				mu.Lock()
				decisions[id] += n
				mu.Unlock()
			}
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(c), 42))
					op, senior := tokens[review.RoleOperator], tokens[review.RoleSenior]
					for r := 0; r < rounds; r++ {
						base := servers[rng.IntN(len(servers))].url
						id := ids[rng.IntN(len(ids))]
						var res result
						var kind string
						switch p := rng.IntN(100); {
						case p < 27:
							kind, res = "approve", call(base, "POST", "/api/operator/recommendations/"+id+"/approve", op, map[string]any{})
							if res.status == 200 {
								decided(id, 1)
							}
						case p < 45:
							kind, res = "reject", call(base, "POST", "/api/operator/recommendations/"+id+"/reject", op, map[string]any{"reason": "race"})
							if res.status == 200 {
								decided(id, 1)
							}
						case p < 60:
							kind, res = "flag", call(base, "POST", "/api/operator/recommendations/"+id+"/flag", op, map[string]any{"reason": "race"})
						case p < 70:
							kind, res = "modify", call(base, "PATCH", "/api/operator/recommendations/"+id, op, map[string]any{"title": fmt.Sprintf("edit %d-%d", c, r)})
						case p < 82:
							batch := make([]string, 10)
							for i := range batch {
								batch[i] = ids[rng.IntN(len(ids))]
							}
							kind, res = "bulk", call(base, "POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": batch})
							if res.status == 200 {
								approved := res.body["approved_ids"].([]any)
								stats.add("changes", len(approved))
								for _, a := range approved {
									decided(a.(string), 1)
								}
							}
						case p < 90:
							kind, res = "undo", call(base, "POST", "/api/operator/recommendations/"+id+"/undo", op, nil)
							if res.status == 200 {
								if from := res.body["reverted_from"]; from == "approved" || from == "rejected" {
									decided(id, -1)
								}
							}
						default:
							kind = "resolve"
							res = resolveOne(base, senior, rng)
							if res.status == 200 && res.body["status"] != "pending" {
								decided(res.body["recommendation_id"].(string), 1)
							}
						}
						stats.add("requests", 1)
						if res.err != nil {
							stats.add("transport errors", 1)
							continue
						}
						stats.add(fmt.Sprintf("%s %d", kind, res.status), 1)
						if res.status == 204 { // no open flag to resolve
							continue
						}
						if res.status >= 500 {
							stats.add("5xx", 1)
						}
						if res.status == 200 && kind != "bulk" && !(kind == "modify" && len(res.body["modifications"].(map[string]any)) == 0) {
							stats.add("changes", 1)
						}
					}
				}(c)
			}
			wg.Wait()

			s, err := store.Open(context.Background(), dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var auditRows int
			if err := s.Read.QueryRow(`SELECT COUNT(*) FROM operator_audit_log`).Scan(&auditRows); err != nil {
				t.Fatal(err)
			}
			decidedItems := 0
			for _, id := range ids {
				if decisions[id] > 1 || decisions[id] < 0 {
					t.Errorf("%s decided %d times", id, decisions[id])
				}
				rec, err := s.GetRecommendation(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				terminal := rec.Status == review.StatusApproved || rec.Status == review.StatusRejected
				if terminal != (decisions[id] == 1) {
					t.Errorf("%s is %s but saw %d winning decisions", id, rec.Status, decisions[id])
				}
				if terminal {
					decidedItems++
				}
			}
			if stats.get("5xx") > 0 || stats.get("transport errors") > 0 {
				t.Errorf("%d 5xx, %d transport errors", stats.get("5xx"), stats.get("transport errors"))
			}
			if auditRows != stats.get("changes") {
				t.Errorf("audit rows = %d, successful changes = %d", auditRows, stats.get("changes"))
			}
			checkInvariants(t, dbURL)
			t.Logf("%s: %d processes, %d clients: %d requests, %d changes, %d audit rows, %d items decided, 5xx=%d; by outcome: %v",
				engine, procs, clients, stats.get("requests"), stats.get("changes"), auditRows, decidedItems, stats.get("5xx"), stats.m)
		})
	}
}

// resolveOne resolves a random open flag, if any.
func resolveOne(base, token string, rng *rand.Rand) result {
	res := callList(base, "/api/operator/flags?limit=20", token)
	if res.err != nil || len(res.list) == 0 {
		return result{status: 204, err: res.err}
	}
	f := res.list[rng.IntN(len(res.list))]
	resolution := []string{"approve", "reject", "requeue"}[rng.IntN(3)]
	return call(base, "POST", "/api/operator/flags/"+f["flag_id"].(string)+"/resolve", token, map[string]any{"resolution": resolution, "notes": "race"})
}
