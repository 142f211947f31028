package httpapi_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func traceDoc() map[string]any {
	return map[string]any{
		"signals_detected_at": "2026-11-01T00:00:00Z", "persona_assigned_at": "2026-11-01T00:00:01Z",
		"content_matched_at": "2026-11-01T00:00:02Z", "rationale_generated_at": "2026-11-01T00:00:03Z",
		"guardrails_checked_at": "2026-11-01T00:00:04Z",
		"signals": map[string]any{
			"credit":        map[string]any{"aggregate_utilization_pct": 68, "total_credit_used": 3400, "total_credit_available": 5000, "any_interest_charges": true},
			"subscriptions": map[string]any{"recurring_merchant_count": 2, "merchants": []any{map[string]any{"name": "Netflix", "amount": 15.49}}},
		},
		"persona_assignment": map[string]any{"primary_persona": "student", "primary_match_strength": 0.8,
			"criteria_met": []any{"utilization above 50%"}, "engine_extra": "kept"},
		"content_matches":  []any{map[string]any{"content_id": "c1", "title": "Utilization 101", "relevance_score": 0.91, "match_reason": "high utilization"}},
		"relevance_scores": map[string]any{"c1": 0.91},
		"llm_model":        "gpt-4o-mini", "temperature": 0.3, "tokens_used": 400,
	}
}

// TestTraceShape: ingest checks the contract's trace fields when present
// (422 naming the path), keeps other fields, and /trace serves the shape.
func TestTraceShape(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.fixture(1, 0) // users user_0…
		ing := e.as(review.RoleIngest)
		push := func(id string, trace map[string]any) resp {
			r := newRec(id, "user_0")
			r["trace"] = trace
			return e.do("POST", "/api/ingest/recommendations", ing, map[string]any{"recommendations": []any{r}})
		}
		doc := traceDoc()
		doc["guardrails_checked_at"] = "2026-11-01T00:00:04.123456+00:00"
		push("tr_ok", doc).must(t, 200)
		got := e.do("GET", recPath("tr_ok")+"/trace", e.as(review.RoleOperator), nil).must(t, 200).JSON(t)
		// Times come back in UTC at the microsecond ingest keeps.
		if got["guardrails_checked_at"] != "2026-11-01T00:00:04.123456Z" {
			t.Fatalf("guardrails_checked_at = %v", got["guardrails_checked_at"])
		}
		pa := got["persona_assignment"].(map[string]any)
		cm := got["content_matches"].([]any)[0].(map[string]any)
		if pa["primary_persona"] != "student" || pa["primary_match_strength"] != 0.8 || pa["engine_extra"] != "kept" ||
			cm["relevance_score"] != 0.91 || cm["match_reason"] != "high utilization" {
			t.Fatalf("trace = %v", got)
		}
		// The fixture (and so every test) uses the shape too.
		fx := e.do("GET", recPath("rec_0000")+"/trace", e.as(review.RoleOperator), nil).must(t, 200).JSON(t)
		if fx["content_matches"].([]any)[0].(map[string]any)["relevance_score"] == nil || fx["persona_assignment"].(map[string]any)["primary_persona"] == nil {
			t.Fatalf("fixture trace = %v", fx)
		}

		bad := []struct {
			path string
			edit func(tr map[string]any)
		}{
			{"trace.content_matches[0].relevance_score", func(tr map[string]any) {
				tr["content_matches"].([]any)[0].(map[string]any)["relevance_score"] = 1.5
			}},
			{"trace.content_matches[0].relevance_score", func(tr map[string]any) {
				tr["content_matches"].([]any)[0].(map[string]any)["relevance_score"] = "high"
			}},
			{"trace.content_matches[0].match_reason", func(tr map[string]any) {
				tr["content_matches"].([]any)[0].(map[string]any)["match_reason"] = 3
			}},
			{"trace.content_matches", func(tr map[string]any) { tr["content_matches"] = map[string]any{"c1": 1} }},
			{"trace.persona_assignment.primary_persona", func(tr map[string]any) { tr["persona_assignment"].(map[string]any)["primary_persona"] = 7 }},
			{"trace.persona_assignment.primary_match_strength", func(tr map[string]any) {
				tr["persona_assignment"].(map[string]any)["primary_match_strength"] = -0.1
			}},
			{"trace.persona_assignment.criteria_met[0]", func(tr map[string]any) { tr["persona_assignment"].(map[string]any)["criteria_met"] = []any{1} }},
			{"trace.signals.credit.aggregate_utilization_pct", func(tr map[string]any) {
				tr["signals"].(map[string]any)["credit"].(map[string]any)["aggregate_utilization_pct"] = "68%"
			}},
			{"trace.signals.subscriptions.merchants[0].amount", func(tr map[string]any) {
				tr["signals"].(map[string]any)["subscriptions"].(map[string]any)["merchants"] = []any{map[string]any{"name": "x", "amount": "9"}}
			}},
			{"trace.relevance_scores.c1", func(tr map[string]any) { tr["relevance_scores"] = map[string]any{"c1": "0.9"} }},
			{"trace.relevance_scores", func(tr map[string]any) { tr["relevance_scores"] = "0.9" }},
		}
		for i, b := range bad {
			tr := traceDoc()
			b.edit(tr)
			r := push("tr_bad_"+string(rune('a'+i)), tr).must(t, 422)
			if d := r.JSON(t)["detail"].(string); !strings.Contains(d, b.path+" must be") {
				t.Errorf("detail %q does not name %s", d, b.path)
			}
		}
		e.do("GET", recPath("tr_bad_a"), e.as(review.RoleOperator), nil).must(t, 404) // nothing stored
	})
}
