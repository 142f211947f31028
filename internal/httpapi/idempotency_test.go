package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// newEnvConfig is newEnv with a server built from a config of the test's
// choosing (same store, same issuer, so the env's tokens work).
func newEnvConfig(t *testing.T, s *store.Store, mut func(*httpapi.Config)) *env {
	t.Helper()
	e := newEnv(t, s)
	e.srv = newServer(t, s, e.issuer, mut)
	return e
}

func newServer(t *testing.T, s *store.Store, issuer *auth.Issuer, mut func(*httpapi.Config)) *httptest.Server {
	t.Helper()
	cfg := httpapi.Config{Store: s, Issuer: issuer, CORSOrigins: []string{"http://localhost:3000"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mut != nil {
		mut(&cfg)
	}
	srv := httptest.NewServer(httpapi.New(cfg).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// idemRows counts idempotency records.
func (e *env) idemRows() int {
	e.t.Helper()
	var n int
	if err := e.s.Read.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func replayed(r resp) bool { return r.Header.Get("Idempotent-Replayed") == "true" }

// sameResponse fails unless b replays a: same status, content type and body,
// and marked as a replay.
func sameResponse(t *testing.T, a, b resp) {
	t.Helper()
	if b.Status != a.Status || !bytes.Equal(a.Body, b.Body) || a.Header.Get("Content-Type") != b.Header.Get("Content-Type") {
		t.Fatalf("replay differs:\nfirst  %d %s %s\nreplay %d %s %s", a.Status, a.Header.Get("Content-Type"), a.Body,
			b.Status, b.Header.Get("Content-Type"), b.Body)
	}
	if replayed(a) || !replayed(b) {
		t.Fatalf("Idempotent-Replayed: first %q, replay %q", a.Header.Get("Idempotent-Replayed"), b.Header.Get("Idempotent-Replayed"))
	}
}

func TestIdempotency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(40, 0)
		op, senior, admin, ingest := e.as(review.RoleOperator), e.as(review.RoleSenior), e.as(review.RoleAdmin), e.as(review.RoleIngest)
		rp := func(id, action string) string { return "/api/operator/recommendations/" + id + action }
		key := func(k string) []string { return []string{"Idempotency-Key", k} }

		t.Run("Replay", func(t *testing.T) {
			for _, c := range []struct {
				name, path, token string
				body              any
				recID             string // audit rows expected for it: 1
			}{
				{"approve", rp(ids[0], "/approve"), op, map[string]any{"notes": "ok"}, ids[0]},
				{"approve without body", rp(ids[1], "/approve"), op, nil, ids[1]},
				{"reject", rp(ids[2], "/reject"), op, map[string]any{"reason": "misleading"}, ids[2]},
				{"flag", rp(ids[3], "/flag"), op, map[string]any{"reason": "tone"}, ids[3]},
				{"modify", rp(ids[4], ""), op, map[string]any{"title": "Edited"}, ids[4]},
				{"bulk", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": []string{ids[5], ids[6]}}, ids[5]},
				{"claim", "/api/operator/queue/claim", senior, map[string]any{"limit": 2}, ""},
				{"release", "/api/operator/queue/release", senior, map[string]any{}, ""},
				{"ingest", "/api/ingest/recommendations", ingest, map[string]any{"recommendations": []any{newRec("idem_ingest_1", "user_0")}}, ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					k := "replay-" + c.name
					method := "POST"
					if c.name == "modify" {
						method = "PATCH"
					}
					first := e.do(method, c.path, c.token, c.body, key(k)...).must(t, 200)
					before := e.auditCount("")
					again := e.do(method, c.path, c.token, c.body, key(k)...)
					sameResponse(t, first, again)
					third := e.do(method, c.path, c.token, c.body, key(k)...)
					sameResponse(t, first, third)
					if n := e.auditCount(""); n != before {
						t.Errorf("replays wrote %d audit rows", n-before)
					}
					if c.recID != "" {
						if n := e.auditCount(c.recID); n != 1 {
							t.Errorf("%s: %d audit rows, want 1", c.recID, n)
						}
					}
				})
			}
			// The replayed claim did not claim more: the first claim's items only.
			var claimed int
			if err := s.Read.QueryRow(`SELECT COUNT(*) FROM recommendations WHERE claimed_by IS NOT NULL`).Scan(&claimed); err != nil {
				t.Fatal(err)
			}
			if claimed != 0 { // released by the release case
				t.Errorf("%d items still claimed", claimed)
			}
		})

		t.Run("ResolveAndRetry", func(t *testing.T) {
			f := e.do("POST", rp(ids[7], "/flag"), op, map[string]any{"reason": "check"}).must(t, 200).JSON(t)
			res := "/api/operator/flags/" + f["flag_id"].(string) + "/resolve"
			body := map[string]any{"resolution": "requeue", "notes": "fine after all"}
			first := e.do("POST", res, senior, body, key("resolve-1")...).must(t, 200)
			sameResponse(t, first, e.do("POST", res, senior, body, key("resolve-1")...))
			if n := e.auditCount(ids[7]); n != 2 { // flag + resolve_flag
				t.Errorf("audit rows = %d, want 2", n)
			}
			// retry-delivery of an item that has not failed: a 409, replayed.
			e.do("POST", rp(ids[8], "/approve"), op, nil).must(t, 200)
			rt := "/api/operator/deliveries/" + ids[8] + "/retry"
			c := e.do("POST", rt, admin, nil, key("retry-1")...)
			if c.Status < 400 || c.Status >= 500 {
				t.Fatalf("retry of a queued delivery = %d %s", c.Status, c.Body)
			}
			sameResponse(t, c, e.do("POST", rt, admin, nil, key("retry-1")...))
		})

		t.Run("ErrMismatch", func(t *testing.T) {
			e.do("POST", rp(ids[10], "/reject"), op, map[string]any{"reason": "first"}, key("mm-1")...).must(t, 200)
			// Same key, other body.
			r := e.do("POST", rp(ids[10], "/reject"), op, map[string]any{"reason": "second"}, key("mm-1")...).must(t, 422)
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") || !strings.Contains(string(r.Body), "different request") {
				t.Errorf("mismatch answer: %s %s", r.Header.Get("Content-Type"), r.Body)
			}
			// Same key and body, other path.
			e.do("POST", rp(ids[11], "/reject"), op, map[string]any{"reason": "first"}, key("mm-1")...).must(t, 422)
			// Same key, other method.
			e.do("PATCH", rp(ids[10], ""), op, map[string]any{"reason": "first"}, key("mm-1")...).must(t, 422)
			// Same key, other If-Match.
			e.do("POST", rp(ids[10], "/reject"), op, map[string]any{"reason": "first"}, "Idempotency-Key", "mm-1", "If-Match", `"1"`).must(t, 422)
			if n := e.auditCount(ids[11]); n != 0 {
				t.Errorf("mismatch acted: %d audit rows", n)
			}
			if r := e.do("GET", rp(ids[11], ""), op, nil).JSON(t); r["status"] != "pending" {
				t.Errorf("mismatch acted: %v", r["status"])
			}
			// Keys are per operator: another operator's key of the same name is its own.
			e.do("POST", rp(ids[11], "/reject"), senior, map[string]any{"reason": "first"}, key("mm-1")...).must(t, 200)
		})

		t.Run("ErrBadKey", func(t *testing.T) {
			before := e.idemRows()
			for _, k := range []string{strings.Repeat("k", 256), "tab\there", "caf\u00e9", "nul\x01", "del\x7f", "\xff\xfe"} {
				r := e.raw("POST", rp(ids[12], "/approve"), map[string]string{"Authorization": "Bearer " + op, "Idempotency-Key": k}, "")
				if r.Status != 422 && r.Status != 400 {
					t.Errorf("key %q: status %d %s", k, r.Status, r.Body)
				}
			}
			// Present but empty.
			r := e.rawDo("POST", rp(ids[12], "/approve"), op, "", map[string][]string{"Idempotency-Key": {""}})
			if r.Status != 422 {
				t.Errorf("empty key: %d %s", r.Status, r.Body)
			}
			// Twice.
			r = e.rawDo("POST", rp(ids[12], "/approve"), op, "", map[string][]string{"Idempotency-Key": {"a", "b"}})
			if r.Status != 422 {
				t.Errorf("two keys: %d %s", r.Status, r.Body)
			}
			// 255 printable characters are fine.
			e.do("POST", rp(ids[12], "/approve"), op, nil, key(strings.Repeat("~", 255))...).must(t, 200)
			if n := e.auditCount(ids[12]); n != 1 {
				t.Errorf("audit rows = %d", n)
			}
			if n := e.idemRows(); n != before+1 {
				t.Errorf("idempotency rows %d → %d, want one more", before, n)
			}
		})

		t.Run("AuthFirst", func(t *testing.T) {
			before := e.idemRows()
			// Without a valid token or with the wrong role the key is not
			// looked at: 401 / 403 as usual, and nothing recorded.
			e.do("POST", rp(ids[13], "/approve"), "", nil, key("auth-1")...).must(t, 401)
			e.do("POST", rp(ids[13], "/approve"), "garbage", nil, key(strings.Repeat("x", 300))...).must(t, 401)
			e.do("POST", rp(ids[13], "/approve"), ingest, nil, key("auth-1")...).must(t, 403)
			e.do("POST", "/api/ingest/users", op, map[string]any{"users": []any{}}, key("auth-1")...).must(t, 403)
			if n := e.idemRows(); n != before {
				t.Errorf("refused requests recorded %d keys", n-before)
			}
			if n := e.auditCount(ids[13]); n != 0 {
				t.Errorf("refused requests acted: %d audit rows", n)
			}
			// A disabled operator's token stops working for replays too.
			e.addOperator("op_idem_leaver", review.RoleOperator)
			tok := e.tokens["op_idem_leaver"]
			first := e.do("POST", rp(ids[13], "/reject"), tok, map[string]any{"reason": "x"}, key("leaver")...).must(t, 200)
			sameResponse(t, first, e.do("POST", rp(ids[13], "/reject"), tok, map[string]any{"reason": "x"}, key("leaver")...))
			if err := s.DisableOperator(t.Context(), store.CLIActor, "op_idem_leaver"); err != nil {
				t.Fatal(err)
			}
			e.do("POST", rp(ids[13], "/reject"), tok, map[string]any{"reason": "x"}, key("leaver")...).must(t, 401)
		})

		t.Run("Replay4xx", func(t *testing.T) {
			// A 404 is the outcome of that request: replayed even once the
			// item exists, and the replay does not act.
			p := rp("idem_late", "/approve")
			first := e.do("POST", p, op, nil, key("late-1")...).must(t, 404)
			e.do("POST", "/api/ingest/recommendations", ingest, map[string]any{"recommendations": []any{newRec("idem_late", "user_1")}}).must(t, 200)
			sameResponse(t, first, e.do("POST", p, op, nil, key("late-1")...))
			if n := e.auditCount("idem_late"); n != 0 {
				t.Errorf("replayed 404 acted: %d audit rows", n)
			}
			// A 409 likewise.
			e.do("POST", rp(ids[14], "/approve"), op, nil).must(t, 200)
			c := e.do("POST", rp(ids[14], "/reject"), op, map[string]any{"reason": "late"}, key("c-1")...).must(t, 409)
			sameResponse(t, c, e.do("POST", rp(ids[14], "/reject"), op, map[string]any{"reason": "late"}, key("c-1")...))
			// A 422 likewise.
			v := e.do("POST", rp(ids[15], "/reject"), op, map[string]any{"reason": ""}, key("v-1")...).must(t, 422)
			sameResponse(t, v, e.do("POST", rp(ids[15], "/reject"), op, map[string]any{"reason": ""}, key("v-1")...))
		})

		t.Run("NotStored5xx", func(t *testing.T) {
			// Break the database under the API: the approval fails with 500,
			// nothing is recorded, and the retry with the same key acts.
			exec := func(q string) {
				t.Helper()
				if _, err := s.Write.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			before := e.idemRows()
			exec(`ALTER TABLE deliveries RENAME TO deliveries_broken`)
			r := e.do("POST", rp(ids[16], "/approve"), op, nil, key("five-1")...)
			exec(`ALTER TABLE deliveries_broken RENAME TO deliveries`)
			if r.Status != 500 {
				t.Fatalf("broken database: status %d %s", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), "deliveries") {
				t.Errorf("500 leaks SQL: %s", r.Body)
			}
			if n := e.idemRows(); n != before {
				t.Errorf("a 5xx was recorded (%d rows, want %d)", n, before)
			}
			ok := e.do("POST", rp(ids[16], "/approve"), op, nil, key("five-1")...).must(t, 200)
			if replayed(ok) {
				t.Error("retry after a 5xx was a replay")
			}
			if n := e.auditCount(ids[16]); n != 1 {
				t.Errorf("audit rows = %d, want 1", n)
			}
		})

		t.Run("Concurrent", func(t *testing.T) {
			for round, id := range ids[20:25] {
				k := fmt.Sprintf("race-%d", round)
				var mu sync.Mutex
				var acted []resp
				statuses := map[string]int{}
				var wg sync.WaitGroup
				for g := 0; g < 10; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := e.do("POST", rp(id, "/approve"), op, map[string]any{"notes": "race"}, key(k)...)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case r.Status == 200 && !replayed(r):
							acted = append(acted, r)
							statuses["acted"]++
						case r.Status == 200:
							statuses["replayed"]++
						case r.Status == 409 && strings.Contains(string(r.Body), "in progress"):
							statuses["in_progress"]++
						default:
							statuses[fmt.Sprint(r.Status)]++
							t.Errorf("unexpected answer %d %s", r.Status, r.Body)
						}
					}()
				}
				wg.Wait()
				if len(acted) != 1 {
					t.Fatalf("%s: %d requests acted, want 1 (%v)", id, len(acted), statuses)
				}
				if n := e.auditCount(id); n != 1 {
					t.Errorf("%s: %d audit rows, want 1", id, n)
				}
				// Afterwards every repeat is a replay of the one that acted.
				sameResponse(t, acted[0], e.do("POST", rp(id, "/approve"), op, map[string]any{"notes": "race"}, key(k)...))
				t.Logf("%s: %v", id, statuses)
			}
		})
	})
}

// rawDo sends a request with headers added as given (several values, empty
// values) and a raw body.
func (e *env) rawDo(method, path, token, body string, headers map[string][]string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func newRec(id, user string) map[string]any {
	return map[string]any{"id": id, "user_id": user, "persona_primary": "student", "type": "article",
		"title": "Title " + id, "rationale": "Because " + id, "priority": "low",
		"guardrails_passed": map[string]any{"tone_check": true, "advice_check": true, "eligibility_check": true},
		"generated_at":      "2026-11-01T00:00:00Z"}
}

// TestIdempotencyExpiry: keys are kept for the configured TTL and then
// forgotten (the request acts again), and the purge deletes them.
func TestIdempotencyExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		var offset atomic.Int64
		s.SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
		const ttl = time.Minute
		e := newEnvConfig(t, s, func(c *httpapi.Config) { c.IdempotencyTTL = ttl })
		ids := e.fixture(3, 0)
		op := e.as(review.RoleOperator)
		p := "/api/operator/recommendations/" + ids[0] + "/approve"
		k := []string{"Idempotency-Key", "exp-1"}

		first := e.do("POST", p, op, nil, k...).must(t, 200)
		offset.Store(int64(ttl - 5*time.Second))
		sameResponse(t, first, e.do("POST", p, op, nil, k...)) // still kept just before the TTL
		offset.Store(int64(ttl + time.Second))
		// Expired: the same request runs again (and finds the item approved).
		again := e.do("POST", p, op, nil, k...).must(t, 409)
		if replayed(again) {
			t.Error("expired key was replayed")
		}
		// …and that answer is the key's new first response.
		sameResponse(t, again, e.do("POST", p, op, nil, k...))
		// After expiry the key may carry a different request.
		offset.Store(int64(2*ttl + 2*time.Second))
		e.do("POST", "/api/operator/recommendations/"+ids[1]+"/approve", op, nil, k...).must(t, 200)
		if n := e.auditCount(ids[0]); n != 1 {
			t.Errorf("audit rows = %d, want 1", n)
		}

		// Purge: keys older than the TTL go, younger ones stay.
		e.do("POST", "/api/operator/recommendations/"+ids[2]+"/flag", op, map[string]any{"reason": "x"}, "Idempotency-Key", "exp-2").must(t, 200)
		if n := e.idemRows(); n != 2 {
			t.Fatalf("rows = %d, want 2", n)
		}
		offset.Store(int64(3*ttl + 3*time.Second))
		// A fresh API purges on its first keyed request, in the background.
		srv := newServer(t, s, e.issuer, func(c *httpapi.Config) { c.IdempotencyTTL = ttl })
		e.srv = srv
		e.do("POST", "/api/operator/recommendations/"+ids[2]+"/flag", op, map[string]any{"reason": "x"}, "Idempotency-Key", "exp-3").must(t, 409)
		deadline := time.Now().Add(10 * time.Second)
		for e.idemRows() != 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := e.idemRows(); n != 1 {
			t.Errorf("after the background purge: %d rows, want 1 (exp-3)", n)
		}
		n, err := s.PurgeIdempotency(t.Context(), s.Now().Add(time.Hour))
		if err != nil || n != 1 {
			t.Errorf("PurgeIdempotency = %d, %v; want 1", n, err)
		}
	})
}

// TestIdempotencyAcrossProcesses runs two APIs, each with its own store
// (connection pools), on one database, as two server processes would: a key
// used on one is replayed by the other, and racing both acts once.
func TestIdempotencyAcrossProcesses(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			url := testdb.URL(t, engine)
			open := func() *store.Store {
				s, err := store.Open(t.Context(), url, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if _, err := s.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := s.SetDeliveryQueue(store.NoDeliveryJobs); err != nil { // newEnv wires s1's
					t.Fatal(err)
				}
				return s
			}
			s1 := open()
			e := newEnv(t, s1)
			s2 := open()
			issuer2, err := auth.NewIssuer(testSecret, time.Hour) // the other process's issuer, same secret
			if err != nil {
				t.Fatal(err)
			}
			servers := []*httptest.Server{e.srv, newServer(t, s2, issuer2, nil)}
			ids := e.fixture(10, 0)
			op := e.as(review.RoleOperator)
			on := func(i int, method, path string, body any, key string) resp {
				e.srv = servers[i%2]
				return e.do(method, path, op, body, "Idempotency-Key", key)
			}
			p := "/api/operator/recommendations/" + ids[0] + "/reject"
			first := on(0, "POST", p, map[string]any{"reason": "one"}, "x-1").must(t, 200)
			sameResponse(t, first, on(1, "POST", p, map[string]any{"reason": "one"}, "x-1"))
			on(1, "POST", p, map[string]any{"reason": "two"}, "x-1").must(t, 422)

			for _, id := range ids[1:6] {
				var wg sync.WaitGroup
				var mu sync.Mutex
				acted := 0
				for g := 0; g < 10; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						srv := servers[g%2]
						req, _ := http.NewRequest("POST", srv.URL+"/api/operator/recommendations/"+id+"/approve", nil)
						req.Header.Set("Authorization", "Bearer "+op)
						req.Header.Set("Idempotency-Key", "x-race-"+id)
						res, err := srv.Client().Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						mu.Lock()
						defer mu.Unlock()
						switch {
						case res.StatusCode == 200 && res.Header.Get("Idempotent-Replayed") == "":
							acted++
						case res.StatusCode == 200, res.StatusCode == 409:
						default:
							t.Errorf("%s: status %d", id, res.StatusCode)
						}
					}()
				}
				wg.Wait()
				if acted != 1 {
					t.Errorf("%s: %d requests acted across two servers, want 1", id, acted)
				}
				if n := e.auditCount(id); n != 1 {
					t.Errorf("%s: %d audit rows, want 1", id, n)
				}
			}
			// (No s1.Check here: the second store has no delivery enqueuer, so
			// its approvals queue no delivery job; the harness's store may.)
		})
	}
}

// TestSlowActionNotCanceled: an action that waits longer than huma's 5 s
// body-read timeout after its body was read (here: for the SQLite writer,
// held by someone else for 6 s) still completes. Reading the body ahead of
// huma (checkBody, Idempotency-Key) once let that timeout cancel the
// request's context (499).
func TestSlowActionNotCanceled(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 6 s")
	}
	s := testdb.Open(t, store.SQLite)
	e := newEnv(t, s)
	ids := e.fixture(2, 0)
	op := e.as(review.RoleOperator)
	tx, err := s.Write.BeginTx(t.Context(), nil) // the one writer connection
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(6 * time.Second)
		_ = tx.Rollback()
	}()
	var wg sync.WaitGroup
	results := make([]resp, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		results[0] = e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, map[string]any{"notes": "slow"})
	}()
	go func() {
		defer wg.Done()
		results[1] = e.do("POST", "/api/operator/recommendations/"+ids[1]+"/reject", op, map[string]any{"reason": "slow"}, "Idempotency-Key", "slow-1")
	}()
	wg.Wait()
	for i, r := range results {
		if r.Status != 200 {
			t.Errorf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
}
