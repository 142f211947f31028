package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// clock is a settable store clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		c := &clock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
		s.SetClock(c.now)
		e := newEnv(t, s)
		ids := e.fixture(6, 0) // enter the queue at 22:00 UTC
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		c.t = c.t.Add(60 * time.Second) // 22:01
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, nil).must(t, 200)
		c.t = c.t.Add(120 * time.Second) // 22:03
		e.do("POST", "/api/operator/recommendations/"+ids[1]+"/reject", senior, map[string]any{"reason": "no"}).must(t, 200)
		e.do("POST", "/api/operator/recommendations/"+ids[2]+"/flag", op, map[string]any{"reason": "hmm"}).must(t, 200)

		st := e.do("GET", "/api/operator/stats", op, nil).must(t, 200).JSON(t)
		want := map[string]float64{"pending": 3, "approved_today": 1, "rejected_today": 1, "flagged": 1, "avg_review_time_seconds": 120}
		for k, v := range want {
			if got := st[k].(float64); math.Abs(got-v) > 0.01 {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
		mine := e.do("GET", "/api/operator/stats?operator_id=op_operator", op, nil).must(t, 200).JSON(t)
		if mine["approved_today"].(float64) != 1 || mine["rejected_today"].(float64) != 0 || mine["avg_review_time_seconds"].(float64) != 60 {
			t.Errorf("per-operator stats = %v", mine)
		}
		// The public dashboard sends its cache key as the operator id.
		for _, id := range []string{"ghost", url.QueryEscape("/api/operator/stats"), url.QueryEscape("op_operator' OR 1=1 --")} {
			nobody := e.do("GET", "/api/operator/stats?operator_id="+id, op, nil).must(t, 200).JSON(t)
			if nobody["approved_today"].(float64) != 0 || nobody["rejected_today"].(float64) != 0 || nobody["avg_review_time_seconds"].(float64) != 0 ||
				nobody["pending"].(float64) != 3 || nobody["flagged"].(float64) != 1 {
				t.Errorf("operator_id=%s: stats = %v, want zeros today beside pending 3, flagged 1", id, nobody)
			}
		}
		// 22:03 UTC is already tomorrow in Tokyo (UTC+9): today there began at 15:00 UTC, so the decisions count.
		// In Honolulu (UTC-10) it is 12:03 on the 25th: they count too. On Kiritimati (UTC+14) it is the 26th,
		// which began at 10:00 UTC on the 25th: they count. Move the clock a day on and nothing is today.
		for _, tz := range []string{"Asia/Tokyo", "Pacific/Honolulu", "Pacific/Kiritimati"} {
			if got := e.do("GET", "/api/operator/stats?tz="+tz, op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 1 {
				t.Errorf("tz=%s approved_today = %v, want 1", tz, got)
			}
		}
		c.t = c.t.Add(24 * time.Hour)
		if got := e.do("GET", "/api/operator/stats", op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 0 {
			t.Errorf("next day approved_today = %v", got)
		}
		// In New York (UTC-5) 22:01 UTC on the 25th is 17:01 on the 25th; the clock now says 22:03 on the 26th UTC = 17:03 on the 26th.
		if got := e.do("GET", "/api/operator/stats?tz=America/New_York", op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 0 {
			t.Errorf("New York next day approved_today = %v", got)
		}
		e.do("GET", "/api/operator/stats?tz=Mars/Olympus", op, nil).must(t, 422)
	})
}

func TestAuditLogs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		c := &clock{t: time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)}
		s.SetClock(c.now)
		e := newEnv(t, s)
		ids := e.fixture(12, 0)
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		for i, id := range ids[:10] {
			c.t = c.t.Add(10 * time.Minute) // the 10 actions span 20 Nov 23:40 → 21 Nov 01:10
			who := op
			if i%2 == 1 {
				who = senior
			}
			e.do("POST", "/api/operator/recommendations/"+id+"/approve", who, nil).must(t, 200)
		}
		all := e.do("GET", "/api/operator/audit-logs", op, nil).must(t, 200).JSON(t)
		if all["total"].(float64) != 10 || all["count"].(float64) != 10 || all["next_cursor"] != nil {
			t.Fatalf("audit = total %v count %v next %v", all["total"], all["count"], all["next_cursor"])
		}
		logs := all["logs"].([]any)
		if first := logs[0].(map[string]any); first["recommendation_id"] != ids[9] {
			t.Errorf("newest first: got %v", first["recommendation_id"])
		}
		for q, want := range map[string]float64{
			"operator_id=op_senior_operator": 5,
			"action=approve":                 10,
			"action=reject":                  0,
			"recommendation_id=" + ids[3]:    1,
			"end_date=2026-11-20":            2, // bare date: the whole day
			"start_date=2026-11-21":          8,
			"start_date=2026-11-21T00:00:00Z&end_date=2026-11-21T00:20:00Z": 3, // exact times, end inclusive
		} {
			if got := e.do("GET", "/api/operator/audit-logs?"+q, op, nil).must(t, 200).JSON(t)["total"].(float64); got != want {
				t.Errorf("%s: total %v, want %v", q, got, want)
			}
		}
		// Paging by cursor and by offset agree.
		p1 := e.do("GET", "/api/operator/audit-logs?limit=4", op, nil).must(t, 200).JSON(t)
		cur := p1["next_cursor"].(string)
		p2 := e.do("GET", "/api/operator/audit-logs?limit=4&cursor="+cur, op, nil).must(t, 200).JSON(t)
		p2o := e.do("GET", "/api/operator/audit-logs?limit=4&offset=4", op, nil).must(t, 200).JSON(t)
		if p2["logs"].([]any)[0].(map[string]any)["audit_id"] != p2o["logs"].([]any)[0].(map[string]any)["audit_id"] {
			t.Error("cursor page 2 differs from offset page 2")
		}
		for _, q := range []string{"action=delete", "start_date=yesterday", "end_date=2026-13-01", "limit=10001", "limit=0", "action=approved", "offset=-1", "start_date=2026-11-22&end_date=2026-11-21"} {
			e.do("GET", "/api/operator/audit-logs?"+q, op, nil).must(t, 422)
		}

		r := e.do("GET", "/api/operator/audit-logs/export?format=csv&operator_id=op_operator", op, nil).must(t, 200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("csv content-type %q", r.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil || len(rows) != 6 || rows[0][0] != "audit_id" {
			t.Errorf("csv: %v, %d rows", err, len(rows))
		}
		r = e.do("GET", "/api/operator/audit-logs/export?format=ndjson", op, nil).must(t, 200)
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(r.Body)); sc.Scan(); n++ {
		}
		if n != 10 {
			t.Errorf("ndjson lines = %d, want 10", n)
		}
		e.do("GET", "/api/operator/audit-logs/export?format=xml", op, nil).must(t, 422)
	})
}

func TestUsersAndTrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(6, 0)
		op := e.as(review.RoleOperator)
		u := e.do("GET", "/api/operator/users/user_0", op, nil).must(t, 200).JSON(t)
		if u["user_id"] != "user_0" {
			t.Errorf("user = %v", u)
		}
		sig := e.do("GET", "/api/operator/users/user_0/signals", op, nil).must(t, 200).JSON(t)
		credit := sig["signals"].(map[string]any)["credit"].(map[string]any)
		if sig["window_type"] != "30d" || credit["aggregate_utilization_pct"].(float64) != 78 || sig["persona_30d"].(map[string]any)["primary"] != "high_utilization" {
			t.Errorf("signals = %v", sig)
		}
		e.do("GET", "/api/operator/users/user_0/signals?window_type=180d", op, nil).must(t, 404)
		e.do("GET", "/api/operator/users/user_0/signals?window_type=7d", op, nil).must(t, 422)
		e.do("GET", "/api/operator/users/nobody/signals", op, nil).must(t, 404)
		h := e.do("GET", "/api/operator/users/user_0/persona-history", op, nil).must(t, 200).List(t)
		if len(h) != 1 || h[0]["persona"] != "high_utilization" || h[0]["window_type"] != "30d" {
			t.Errorf("history = %v", h)
		}
		e.do("GET", "/api/operator/users/user_0/persona-history?days=0", op, nil).must(t, 422)

		tr := e.do("GET", "/api/operator/recommendations/"+ids[0]+"/trace", op, nil).must(t, 200).JSON(t)
		for _, k := range []string{"signals", "persona_assignment", "content_matches", "relevance_scores", "llm_model", "temperature", "tokens_used",
			"rationale", "type", "priority", "tone_check", "advice_check", "eligibility_check", "guardrails_passed"} {
			if _, ok := tr[k]; !ok {
				t.Errorf("trace lacks %s", k)
			}
		}
		if _, ok := tr["content_matches"].([]any); !ok || tr["guardrails_passed"] != true {
			t.Errorf("trace JSON not parsed: %v", tr)
		}
		missing := e.do("GET", "/api/operator/recommendations/ghost/trace", op, nil).must(t, 404).JSON(t)["detail"]
		e.do("POST", "/api/ingest/recommendations", e.as(review.RoleIngest), map[string]any{"recommendations": []any{map[string]any{
			"id": "no_trace", "user_id": "user_0", "persona_primary": "student", "type": "tool", "title": "t", "rationale": "r", "priority": "low",
			"guardrails_passed": map[string]any{"tone_check": true, "advice_check": true, "eligibility_check": true}, "generated_at": "2026-11-01T00:00:00Z"}}}).must(t, 200)
		noTrace := e.do("GET", "/api/operator/recommendations/no_trace/trace", op, nil).must(t, 404).JSON(t)["detail"]
		if missing == noTrace {
			t.Errorf("the two trace 404s say the same: %v", missing)
		}
	})
}

func TestIngestAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.fixture(1, 0)
		ing := e.as(review.RoleIngest)
		rec := map[string]any{"id": "eng:1", "user_id": "user_1", "persona_primary": "student", "type": "quiz", "title": "Budget basics",
			"rationale": "You are new to budgeting", "priority": "medium",
			"guardrails_passed": map[string]any{"tone_check": true, "advice_check": false, "eligibility_check": true}, "generated_at": "2026-11-01T10:00:00Z"}
		body := map[string]any{"recommendations": []any{rec}}
		r := e.do("POST", "/api/ingest/recommendations", ing, body).must(t, 200).JSON(t)
		if r["created"].(float64) != 1 {
			t.Fatalf("ingest = %v", r)
		}
		if r = e.do("POST", "/api/ingest/recommendations", ing, body).must(t, 200).JSON(t); r["unchanged"].(float64) != 1 {
			t.Errorf("replay = %v", r)
		}
		rec["title"] = "Different"
		if r = e.do("POST", "/api/ingest/recommendations", ing, body).must(t, 200).JSON(t); len(r["conflicts"].([]any)) != 1 {
			t.Errorf("changed content = %v", r)
		}
		got := e.do("GET", "/api/operator/recommendations/eng:1", e.as(review.RoleAdmin), nil).must(t, 200).JSON(t)
		if got["title"] != "Budget basics" || got["all_guardrails_passed"] != false || got["status"] != "pending" {
			t.Errorf("stored = %v", got)
		}
		rec["id"], rec["all_guardrails_passed"] = "eng:2", true
		e.do("POST", "/api/ingest/recommendations", ing, body).must(t, 422) // derived server-side: not accepted from clients
		delete(rec, "all_guardrails_passed")

		// A full batch of 1,000 with traces is over 1 MiB and is accepted;
		// 9 MiB is not.
		batch := make([]any, 1000)
		for i := range batch {
			r := map[string]any{}
			for k, v := range rec {
				r[k] = v
			}
			r["id"] = fmt.Sprintf("big:%d", i)
			r["trace"] = map[string]any{"signals_detected_at": "2026-11-01T00:00:00Z", "persona_assigned_at": "2026-11-01T00:00:01Z",
				"content_matched_at": "2026-11-01T00:00:02Z", "rationale_generated_at": "2026-11-01T00:00:03Z", "guardrails_checked_at": "2026-11-01T00:00:04Z",
				"signals": map[string]any{"note": strings.Repeat("s", 1200)}, "persona_assignment": map[string]any{}, "content_matches": []any{},
				"relevance_scores": map[string]any{}, "llm_model": "m", "temperature": 0.2, "tokens_used": 10}
			batch[i] = r
		}
		big := map[string]any{"recommendations": batch}
		if r := e.do("POST", "/api/ingest/recommendations", ing, big).must(t, 200).JSON(t); r["created"].(float64) != 1000 {
			t.Errorf("big batch = %v", r["created"])
		}
		e.do("POST", "/api/ingest/recommendations", ing, `{"recommendations":["`+strings.Repeat("x", 9<<20)+`"]}`).must(t, 413)
	})
}

func TestQueueClaims(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.fixture(10, 0)
		e.addOperator("op_b", review.RoleOperator)
		a, b := e.as(review.RoleOperator), e.tokens["op_b"]
		ca := e.do("POST", "/api/operator/queue/claim", a, map[string]any{"limit": 4}).must(t, 200).JSON(t)
		cb := e.do("POST", "/api/operator/queue/claim", b, map[string]any{"limit": 4}).must(t, 200).JSON(t)
		seen := map[string]string{}
		for who, c := range map[string]map[string]any{"a": ca, "b": cb} {
			claimed := c["claimed"].([]any)
			if len(claimed) != 4 || c["lease_expires_at"] == nil {
				t.Fatalf("%s claimed %d", who, len(claimed))
			}
			for _, r := range claimed {
				id := r.(map[string]any)["id"].(string)
				if seen[id] != "" {
					t.Fatalf("%s claimed by both", id)
				}
				seen[id] = who
			}
		}
		var aItem, bItem string
		for id, who := range seen {
			if who == "a" {
				aItem = id
			} else {
				bItem = id
			}
		}
		c := e.do("POST", "/api/operator/recommendations/"+aItem+"/approve", b, nil).must(t, 409).JSON(t)
		if c["current_status"] != "pending" {
			t.Errorf("409 current_status = %v", c["current_status"])
		}
		e.do("POST", "/api/operator/recommendations/"+aItem+"/approve", a, nil).must(t, 200)
		r := e.do("POST", "/api/operator/recommendations/bulk-approve", a, map[string]any{"recommendation_ids": []string{bItem}}).must(t, 200).JSON(t)
		if r["approved"].(float64) != 0 || !strings.HasPrefix(r["failed_items"].([]any)[0].(map[string]any)["reason"].(string), "claimed") {
			t.Errorf("bulk over another's claim = %v", r)
		}
		if n := e.do("POST", "/api/operator/queue/release", b, nil).must(t, 200).JSON(t)["released"].(float64); n != 4 {
			t.Errorf("released %v, want 4", n)
		}
		e.do("POST", "/api/operator/recommendations/"+bItem+"/approve", a, nil).must(t, 200)
		e.do("POST", "/api/operator/queue/claim", a, map[string]any{"limit": 101}).must(t, 422)
	})
}
