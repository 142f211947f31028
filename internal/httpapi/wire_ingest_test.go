package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// The domain's JSON of an ingested recommendation is what its content
// hash covers, so the item the engine sent must reach the domain whole:
// converted, it writes the same JSON as the wire shape it came in.
func TestIngestRecommendationToDomain(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 123456789, time.UTC)
	sec, url, rt := "student", "https://learn.example.com/a", 5
	w := IngestRecommendation{ID: "rec_1", UserID: "user_1", PersonaPrimary: "high_utilization", PersonaSecondary: &sec,
		Type: "article", Title: "t", Rationale: "r", Priority: "high", ContentURL: &url, ReadTimeMinutes: &rt,
		GuardrailsPassed: review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: true}, GeneratedAt: at,
		Trace: &IngestTrace{SignalsDetectedAt: at, PersonaAssignedAt: at.Add(1), ContentMatchedAt: at.Add(2),
			RationaleGeneratedAt: at.Add(3), GuardrailsCheckedAt: at.Add(4),
			Signals: json.RawMessage(`{"a":1}`), PersonaAssignment: json.RawMessage(`{"b":2}`),
			ContentMatches: json.RawMessage(`[3]`), RelevanceScores: json.RawMessage(`{"c":4}`),
			LLMModel: "m", Temperature: 0.7, TokensUsed: 412}}
	for _, c := range []struct {
		name string
		w    IngestRecommendation
	}{{"full", w}, {"bare", IngestRecommendation{ID: "rec_2", GeneratedAt: at}}} {
		t.Run(c.name, func(t *testing.T) {
			want, err := json.Marshal(c.w)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(c.w.domain())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("domain JSON %s\nwire JSON   %s", got, want)
			}
		})
	}
}

func TestIngestRecsResultToWire(t *testing.T) {
	r := review.IngestRecsResult{Created: 2, Unchanged: 1, Conflicts: []review.IngestConflict{}}
	if b, _ := json.Marshal(recsResultToWire(r)); string(b) != `{"created":2,"unchanged":1,"conflicts":[]}` {
		t.Fatalf("empty conflicts = %s", b)
	}
	r.Conflicts = append(r.Conflicts, review.IngestConflict{RecommendationID: "rec_1", Reason: "duplicate: x"})
	if b, _ := json.Marshal(recsResultToWire(r)); string(b) != `{"created":2,"unchanged":1,"conflicts":[{"recommendation_id":"rec_1","reason":"duplicate: x"}]}` {
		t.Fatalf("conflicts = %s", b)
	}
}
