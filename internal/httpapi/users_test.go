package httpapi_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

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
		// The user id is checked on every users operation before any read.
		for _, path := range []string{"", "/signals", "/persona-history"} {
			e.do("GET", "/api/operator/users/user$0"+path, op, nil).must(t, 422)
			e.do("GET", "/api/operator/users/"+strings.Repeat("u", 129)+path, op, nil).must(t, 422)
			e.do("GET", "/api/operator/users/"+strings.Repeat("u", 128)+path, op, nil).must(t, 404)
		}

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
