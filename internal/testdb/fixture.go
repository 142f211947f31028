package testdb

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Fixture ingests three users and n recommendations through the store, every
// badEvery-th one with a failed guardrail (0: none fail). Ids are rec_0000….
func Fixture(t testing.TB, s *store.Store, n, badEvery int) []string {
	t.Helper()
	ctx := context.Background()
	users := []review.IngestUser{}
	for u := 0; u < 3; u++ {
		users = append(users, review.IngestUser{UserID: fmt.Sprintf("user_%d", u),
			Signals:  review.IngestSignals{Days30: sampleSignals()},
			Personas: review.IngestPersonas{Days30: review.Persona{Primary: "high_utilization", MatchStrength: 0.8}}})
	}
	if _, err := s.IngestUsers(ctx, users); err != nil {
		t.Fatal(err)
	}
	personas, types, prios := review.Personas, review.Types, review.Priorities
	var recs []review.IngestRecommendation
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("rec_%04d", i)
		ids = append(ids, id)
		g := review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: true}
		if badEvery > 0 && i%badEvery == badEvery-1 {
			g.AdviceCheck = false
		}
		recs = append(recs, review.IngestRecommendation{ID: id, UserID: fmt.Sprintf("user_%d", i%3),
			PersonaPrimary: personas[i%len(personas)], Type: types[i%len(types)], Priority: prios[i%len(prios)],
			Title: "Title " + id, Rationale: "Because of your numbers (" + id + ")", GuardrailsPassed: g,
			GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			Trace: &review.IngestTrace{
				SignalsDetectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PersonaAssignedAt: time.Date(2026, 11, 1, 0, 0, 1, 0, time.UTC),
				ContentMatchedAt: time.Date(2026, 11, 1, 0, 0, 2, 0, time.UTC), RationaleGeneratedAt: time.Date(2026, 11, 1, 0, 0, 3, 0, time.UTC),
				GuardrailsCheckedAt: time.Date(2026, 11, 1, 0, 0, 4, 0, time.UTC),
				// The contract's trace shape (CONTRACT.md, "The decision trace").
				Signals: json.RawMessage(`{"credit":{"aggregate_utilization_pct":78,"total_credit_used":3900,"total_credit_available":5000,"any_interest_charges":true}}`),
				PersonaAssignment: json.RawMessage(`{"primary_persona":"` + personas[i%len(personas)] + `","primary_match_strength":0.82,` +
					`"criteria_met":["utilization above 50%"],"secondary_persona":null}`),
				ContentMatches:  json.RawMessage(`[{"content_id":"c1","title":"Credit utilization 101","relevance_score":0.9,"match_reason":"utilization above 50%"}]`),
				RelevanceScores: json.RawMessage(`{"c1":0.9}`),
				LLMModel:        "gpt-4o-mini", Temperature: 0.3, TokensUsed: 412,
			}})
	}
	for start := 0; start < len(recs); start += 1000 {
		res, err := s.IngestRecommendations(ctx, recs[start:min(len(recs), start+1000)])
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Conflicts) > 0 {
			t.Fatalf("fixture conflicts: %+v", res.Conflicts)
		}
	}
	return ids
}

func sampleSignals() review.Signals {
	var sg review.Signals
	sg.Credit.AggregateUtilizationPct = 78
	sg.Credit.TotalCreditUsed = 7800
	sg.Credit.TotalCreditAvailable = 10000
	sg.Credit.AnyInterestCharges = true
	sg.Subscriptions.RecurringMerchantCount = 2
	sg.Subscriptions.Merchants = []review.Merchant{{Name: "Netflix", Amount: 15.49}, {Name: "Spotify", Amount: 11.99}}
	sg.Income.IncomeType = "salaried"
	sg.Income.PaymentFrequency = "biweekly"
	return sg
}
