package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

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
