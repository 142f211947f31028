package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestOpenEndpoints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		if got := e.do("GET", "/", "", nil).must(t, 200).JSON(t)["message"]; got != "SpendSense Operator Dashboard API" {
			t.Errorf("message = %v", got)
		}
		if got := e.do("GET", "/health", "", nil).must(t, 200).JSON(t)["status"]; got != "healthy" {
			t.Errorf("health = %v", got)
		}
		e.do("GET", "/ready", "", nil).must(t, 200)
		doc := e.do("GET", "/openapi.json", "", nil).must(t, 200).JSON(t)
		if doc["openapi"] != "3.1.0" {
			t.Errorf("openapi = %v", doc["openapi"])
		}
		if n := len(doc["paths"].(map[string]any)); n < 20 {
			t.Errorf("openapi documents %d paths, want every endpoint", n)
		}
		e.do("GET", "/docs", "", nil).must(t, 200)
		for _, c := range []struct {
			method, path string
			want         int
		}{{"GET", "/nonexistent", 404}, {"GET", "/api/operator/nothing", 404}, {"DELETE", "/health", 405}, {"PUT", "/api/operator/recommendations", 405}} {
			r := e.do(c.method, c.path, "", nil).must(t, c.want)
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") || r.JSON(t)["detail"] == "" {
				t.Errorf("%s %s: %q %s", c.method, c.path, r.Header.Get("Content-Type"), r.Body)
			}
		}
		e.do("GET", "/api/operator/stats", e.as(review.RoleOperator), nil).must(t, 200)
		m := string(e.do("GET", "/metrics", "", nil).must(t, 200).Body)
		for _, want := range []string{"spendsense_http_requests_total", "spendsense_http_request_duration_seconds_bucket", `route="/api/operator/stats"`, "spendsense_review_queue_depth"} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestAuth(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		t.Run("OK", func(t *testing.T) {
			r := e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_operator", "password": testPassword}).must(t, 200).JSON(t)
			if r["token_type"] != "bearer" || r["access_token"] == "" || r["expires_in"].(float64) <= 0 {
				t.Fatalf("login = %v", r)
			}
			if op := r["operator"].(map[string]any); op["operator_id"] != "op_operator" || op["role"] != "operator" {
				t.Fatalf("operator = %v", op)
			}
			tok := r["access_token"].(string)
			me := e.do("GET", "/api/auth/me", tok, nil).must(t, 200).JSON(t)
			if me["operator_id"] != "op_operator" || me["password_hash"] != nil {
				t.Fatalf("me = %v", me)
			}
			// By email too.
			e.do("POST", "/api/auth/login", "", map[string]any{"email": "OP_SENIOR_OPERATOR@bank.example", "password": testPassword}).must(t, 200)
			// Logout revokes exactly that token.
			e.do("POST", "/api/auth/logout", tok, nil).must(t, 204)
			e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
		})
		t.Run("ErrUnauthorized", func(t *testing.T) {
			wrongPw := e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_admin", "password": "nope"}).must(t, 401).JSON(t)
			wrongID := e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "nobody", "password": "nope"}).must(t, 401).JSON(t)
			if wrongPw["detail"] != wrongID["detail"] {
				t.Errorf("wrong id and wrong password differ: %v vs %v", wrongID["detail"], wrongPw["detail"])
			}
			e.do("GET", "/api/operator/recommendations", "", nil).must(t, 401)
			e.do("GET", "/api/operator/recommendations", "not-a-jwt", nil).must(t, 401)
			e.do("GET", "/api/operator/recommendations", e.as(review.RoleOperator)+"x", nil).must(t, 401)
		})
		t.Run("ErrTooManyRequests", func(t *testing.T) {
			// The back-off is in seconds: with the clock running, a slow
			// machine could outlast it between two requests.
			now := time.Now()
			s.SetClock(func() time.Time { return now })
			defer s.SetClock(time.Now)
			for i := 0; i < 5; i++ {
				e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_ingest", "password": "bad"}).must(t, 401)
			}
			r := e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_ingest", "password": testPassword}).must(t, 429)
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
		t.Run("DisabledOperator", func(t *testing.T) {
			e.addOperator("op_leaver", review.RoleOperator)
			tok := e.tokens["op_leaver"]
			e.do("GET", "/api/auth/me", tok, nil).must(t, 200)
			if err := s.DisableOperator(t.Context(), store.CLIActor, "op_leaver"); err != nil {
				t.Fatal(err)
			}
			e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
			e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_leaver", "password": testPassword}).must(t, 401)
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			e.do("GET", "/api/operator/recommendations", e.as(review.RoleIngest), nil).must(t, 403)
			e.do("POST", "/api/ingest/users", e.as(review.RoleOperator), map[string]any{"users": []any{}}).must(t, 403)
		})
	})
}

func TestListRecommendations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(23, 0)
		tok := e.as(review.RoleOperator)
		t.Run("Paging", func(t *testing.T) {
			seen := map[string]bool{}
			path := "/api/operator/recommendations?limit=5"
			pages := 0
			for path != "" {
				r := e.do("GET", path, tok, nil).must(t, 200)
				for _, rec := range r.List(t) {
					if seen[rec["id"].(string)] {
						t.Fatalf("id %v on two pages", rec["id"])
					}
					seen[rec["id"].(string)] = true
				}
				pages++
				path = ""
				if link := r.Header.Get("Link"); link != "" {
					if r.Header.Get("X-Next-Cursor") == "" {
						t.Fatal("Link without X-Next-Cursor")
					}
					path = link[strings.Index(link, "<")+1 : strings.Index(link, ">")]
				}
			}
			if len(seen) != len(ids) || pages != 5 {
				t.Fatalf("saw %d ids over %d pages, want %d over 5", len(seen), pages, len(ids))
			}
		})
		t.Run("Shape", func(t *testing.T) {
			rec := e.do("GET", "/api/operator/recommendations?limit=1", tok, nil).must(t, 200).List(t)[0]
			for _, k := range []string{"id", "user_id", "persona_primary", "persona_secondary", "type", "title", "rationale", "priority", "status",
				"content_url", "read_time_minutes", "guardrails_passed", "all_guardrails_passed", "generated_at", "created_at", "updated_at",
				"approved_by", "approved_at", "rejected_by", "rejected_at", "modified_by", "modified_at", "operator_notes", "version", "delivery_status"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("recommendation lacks %q", k)
				}
			}
			if ts := rec["created_at"].(string); !strings.HasSuffix(ts, "Z") {
				t.Errorf("created_at %q is not UTC with Z", ts)
			}
		})
		t.Run("Filters", func(t *testing.T) {
			for _, q := range []string{"persona=student", "priority=high", "type=quiz", "user_id=user_1", "status=all&persona=all"} {
				recs := e.do("GET", "/api/operator/recommendations?"+q, tok, nil).must(t, 200).List(t)
				if len(recs) == 0 {
					t.Errorf("%s: no rows", q)
				}
				k, v, _ := strings.Cut(strings.Split(q, "&")[0], "=")
				if k == "persona" {
					k = "persona_primary"
				}
				for _, r := range recs {
					if v != "all" && r[k] != v {
						t.Errorf("%s: got %s=%v", q, k, r[k])
					}
				}
			}
			if n := len(e.do("GET", "/api/operator/recommendations?status=approved", tok, nil).must(t, 200).List(t)); n != 0 {
				t.Errorf("approved: %d rows, want 0", n)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			for _, q := range []string{"status=done", "persona=rich", "priority=urgent", "type=podcast", "limit=0", "limit=501", "limit=x", "cursor=garbage", "cursor=" + strings.Repeat("A", 600)} {
				r := e.do("GET", "/api/operator/recommendations?"+q, tok, nil).must(t, 422)
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("%s: content-type %q", q, ct)
				}
				if d := r.JSON(t)["detail"]; d == "" || d == nil {
					t.Errorf("%s: no detail", q)
				}
			}
		})
		t.Run("GetOne", func(t *testing.T) {
			r := e.do("GET", "/api/operator/recommendations/"+ids[0], tok, nil).must(t, 200)
			if r.Header.Get("ETag") != `"1"` {
				t.Errorf("ETag = %q", r.Header.Get("ETag"))
			}
			e.do("GET", "/api/operator/recommendations/nope", tok, nil).must(t, 404)
		})
	})
}

func TestActions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(10, 5) // rec_0004 and rec_0009 failed a guardrail
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		path := func(id, action string) string { return "/api/operator/recommendations/" + id + action }

		t.Run("Approve", func(t *testing.T) {
			r := e.do("POST", path(ids[0], "/approve"), op, map[string]any{"notes": "looks right"}).must(t, 200).JSON(t)
			rec := r["recommendation"].(map[string]any)
			if r["status"] != "approved" || r["approved_by"] != "op_operator" || rec["status"] != "approved" || rec["delivery_status"] != "queued" || rec["version"].(float64) != 2 {
				t.Fatalf("approve = %v", r)
			}
			c := e.do("POST", path(ids[0], "/approve"), op, map[string]any{}).must(t, 409).JSON(t)
			if c["current_status"] != "approved" {
				t.Errorf("409 current_status = %v", c["current_status"])
			}
			e.do("POST", path(ids[0], "/reject"), op, map[string]any{"reason": "late"}).must(t, 409)
			e.do("POST", path("missing", "/approve"), op, map[string]any{}).must(t, 404)
			if n := e.auditCount(ids[0]); n != 1 {
				t.Errorf("audit rows = %d, want 1", n)
			}
			if n := e.auditCount("missing"); n != 0 {
				t.Errorf("audit rows for unknown id = %d", n)
			}
			// No body at all is an approval without notes.
			e.do("POST", path(ids[5], "/approve"), op, nil).must(t, 200)
		})
		t.Run("Guardrails", func(t *testing.T) {
			c := e.do("POST", path(ids[4], "/approve"), op, map[string]any{}).must(t, 409).JSON(t)
			if !strings.HasPrefix(c["detail"].(string), "guardrails_failed") {
				t.Errorf("detail = %v", c["detail"])
			}
			e.do("POST", path(ids[4], "/approve"), op, map[string]any{"override_guardrails": true, "notes": "checked"}).must(t, 403)
			e.do("POST", path(ids[4], "/approve"), senior, map[string]any{"override_guardrails": true}).must(t, 422)
			e.do("POST", path(ids[4], "/approve"), senior, map[string]any{"override_guardrails": true, "notes": "reviewed by compliance"}).must(t, 200)
			logs := e.do("GET", "/api/operator/audit-logs?recommendation_id="+ids[4], op, nil).must(t, 200).JSON(t)["logs"].([]any)
			if len(logs) != 1 || logs[0].(map[string]any)["metadata"].(map[string]any)["override_guardrails"] != true {
				t.Errorf("override not audited: %v", logs)
			}
		})
		t.Run("Reject", func(t *testing.T) {
			e.do("POST", path(ids[1], "/reject"), op, map[string]any{}).must(t, 422)
			e.do("POST", path(ids[1], "/reject"), op, map[string]any{"reason": "  "}).must(t, 422)
			r := e.do("POST", path(ids[1], "/reject"), op, map[string]any{"reason": "misleading"}).must(t, 200).JSON(t)
			if r["status"] != "rejected" || r["reason"] != "misleading" || r["rejected_by"] != "op_operator" {
				t.Fatalf("reject = %v", r)
			}
			e.do("POST", path(ids[1], "/approve"), op, map[string]any{}).must(t, 409)
		})
		t.Run("Modify", func(t *testing.T) {
			e.do("PATCH", path(ids[2], ""), op, map[string]any{}).must(t, 422)
			e.do("PATCH", path(ids[2], ""), op, map[string]any{"priority": "urgent"}).must(t, 422)
			e.do("PATCH", path(ids[2], ""), op, map[string]any{"title": strings.Repeat("x", 201)}).must(t, 422)
			r := e.do("PATCH", path(ids[2], ""), op, map[string]any{"title": "New title", "priority": "high"}).must(t, 200).JSON(t)
			mods := r["modifications"].(map[string]any)
			if r["status"] != "modified" || mods["title"].(map[string]any)["to"] != "New title" || r["recommendation"].(map[string]any)["status"] != "pending" {
				t.Fatalf("modify = %v", r)
			}
			e.do("PATCH", path(ids[1], ""), op, map[string]any{"title": "x"}).must(t, 409) // rejected
		})
		t.Run("IfMatch", func(t *testing.T) {
			etag := e.do("GET", path(ids[3], ""), op, nil).must(t, 200).Header.Get("ETag")
			e.do("PATCH", path(ids[3], ""), op, map[string]any{"rationale": "edited"}, "If-Match", etag).must(t, 200)
			e.do("POST", path(ids[3], "/approve"), op, map[string]any{}, "If-Match", etag).must(t, 412)
			e.do("POST", path(ids[3], "/approve"), op, map[string]any{}, "If-Match", "garbage").must(t, 412)
		})
		t.Run("FlagAndResolve", func(t *testing.T) {
			f := e.do("POST", path(ids[3], "/flag"), op, map[string]any{"reason": "tone"}).must(t, 200).JSON(t)
			flagID := f["flag_id"].(string)
			e.do("POST", path(ids[3], "/approve"), op, map[string]any{}).must(t, 409)
			e.do("PATCH", path(ids[3], ""), op, map[string]any{"title": "softer"}).must(t, 200) // flagged may be edited
			flags := e.do("GET", "/api/operator/flags", op, nil).must(t, 200).List(t)
			if len(flags) != 1 || flags[0]["flag_id"] != flagID {
				t.Fatalf("flags = %v", flags)
			}
			res := "/api/operator/flags/" + flagID + "/resolve"
			e.do("POST", res, op, map[string]any{"resolution": "approve", "notes": "ok"}).must(t, 403)
			e.do("POST", res, senior, map[string]any{"resolution": "maybe", "notes": "ok"}).must(t, 422)
			r := e.do("POST", res, senior, map[string]any{"resolution": "approve", "notes": "fine"}).must(t, 200).JSON(t)
			if r["status"] != "approved" || r["recommendation"].(map[string]any)["delivery_status"] != "queued" {
				t.Fatalf("resolve = %v", r)
			}
			e.do("POST", res, senior, map[string]any{"resolution": "approve", "notes": "again"}).must(t, 409)
			if n := len(e.do("GET", "/api/operator/flags", op, nil).must(t, 200).List(t)); n != 0 {
				t.Errorf("%d open flags after resolve", n)
			}
		})
		if vs, err := s.Check(t.Context()); err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %+v", err, vs)
		}
	})
}

func TestBulkApprove(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(1000, 50) // every 50th fails a guardrail
		op := e.as(review.RoleOperator)
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/reject", op, map[string]any{"reason": "no"}).must(t, 200)
		req := append([]string{}, ids[:998]...)
		req = append(req, "ghost", ids[1])
		r := e.do("POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": req, "notes": "batch"}).must(t, 200).JSON(t)
		if r["total"].(float64) != 1000 || r["approved"].(float64) != 978 || r["failed"].(float64) != 22 {
			t.Fatalf("bulk = total %v approved %v failed %v", r["total"], r["approved"], r["failed"])
		}
		codes := map[string]int{}
		for _, f := range r["failed_items"].([]any) {
			reason := f.(map[string]any)["reason"].(string)
			codes[reason[:strings.Index(reason, ":")]]++
		}
		if want := map[string]int{"not_pending": 1, "guardrails_failed": 19, "not_found": 1, "duplicate": 1}; fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Errorf("failure codes = %v, want %v", codes, want)
		}
		logs := e.do("GET", "/api/operator/audit-logs?action=approve&limit=500", op, nil).must(t, 200).JSON(t)
		if logs["total"].(float64) != 978 {
			t.Errorf("approve audit rows = %v, want 978", logs["total"])
		}
		bulkIDs := map[any]bool{}
		for _, l := range logs["logs"].([]any) {
			bulkIDs[l.(map[string]any)["metadata"].(map[string]any)["bulk_id"]] = true
		}
		if len(bulkIDs) != 1 || bulkIDs[nil] {
			t.Errorf("bulk ids = %v, want one shared", bulkIDs)
		}
		e.do("POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": []string{}}).must(t, 422)
		e.do("POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": make([]string, 1001)}).must(t, 422)
		if vs, err := s.Check(t.Context()); err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %+v", err, vs)
		}
	})
}

// TestConcurrentDecisions has many clients race approve, reject, flag and
// bulk-approve over the same items: each item ends with exactly one
// decision, every 200 has exactly one audit row, and nothing else does.
func TestConcurrentDecisions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(30, 0)
		op := e.as(review.RoleOperator)
		var mu sync.Mutex
		wins := map[string]int{}
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for w := 0; w < 12; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i, id := range ids {
					var r resp
					switch (w + i) % 4 {
					case 0:
						r = e.do("POST", "/api/operator/recommendations/"+id+"/approve", op, map[string]any{})
					case 1:
						r = e.do("POST", "/api/operator/recommendations/"+id+"/reject", op, map[string]any{"reason": "race"})
					case 2:
						r = e.do("POST", "/api/operator/recommendations/"+id+"/flag", op, map[string]any{"reason": "race"})
					case 3:
						r = e.do("POST", "/api/operator/recommendations/bulk-approve", op, map[string]any{"recommendation_ids": []string{id}})
						if r.Status == 200 && r.JSON(t)["approved"].(float64) == 0 {
							r.Status = 409
						}
					}
					mu.Lock()
					statuses[r.Status]++
					if r.Status == 200 {
						wins[id]++
					}
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		for _, id := range ids {
			if wins[id] != 1 {
				t.Errorf("%s: %d winning decisions, want 1", id, wins[id])
			}
			if n := e.auditCount(id); n != 1 {
				t.Errorf("%s: %d audit rows, want 1", id, n)
			}
		}
		if statuses[200] != len(ids) || statuses[409] != 12*len(ids)-len(ids) {
			t.Errorf("statuses = %v", statuses)
		}
		if vs, err := s.Check(t.Context()); err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %+v", err, vs)
		}
	})
}

func TestProblemDetails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(2, 0)
		op := e.as(review.RoleOperator)
		p := "/api/operator/recommendations/" + ids[0] + "/reject"
		e.do("POST", p, op, `{"reason": "x"`).must(t, 400)
		bad := e.do("POST", p, op, `{"reason": "x", "extra": 1}`).must(t, 422).JSON(t)
		if errs, _ := bad["errors"].([]any); len(errs) == 0 {
			t.Errorf("422 without errors[]: %v", bad)
		}
		e.do("POST", p, op, `{"reason": 5}`).must(t, 422)
		e.do("POST", p, op, `{"reason": "`+strings.Repeat("x", 1<<20)+`"}`).must(t, 413)
		if n := e.auditCount(""); n != 0 {
			t.Errorf("bad requests wrote %d audit rows", n)
		}
		r := e.do("GET", "/api/operator/recommendations/"+ids[0], op, nil).must(t, 200).JSON(t)
		if r["status"] != "pending" || r["version"].(float64) != 1 {
			t.Errorf("bad requests changed the item: %v", r)
		}
	})
}

func TestCORS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		r := e.do("OPTIONS", "/api/operator/recommendations", "", nil, "Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "authorization")
		if r.Status >= 300 || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight: %d %v", r.Status, r.Header)
		}
		if got := e.do("GET", "/health", "", nil, "Origin", "http://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("unlisted origin got CORS header %q", got)
		}
	})
}

var _ = http.StatusOK
