package review_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// The content hash is stored with every recommendation (by ingest and by
// the seeder), so its bytes must never change: these values were computed
// before the ingest types moved into this package, and a replay of any
// stored item must still hash to them.
func TestContentHashIsStable(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	sec, url, rt := "student", "https://learn.example.com/a?b=<c>&d", 5
	full := review.IngestRecommendation{ID: "rec_1", UserID: "user_1", PersonaPrimary: "high_utilization", PersonaSecondary: &sec,
		Type: "article", Title: "Title \u00e9 \"q\"", Rationale: "Why <b>", Priority: "high", ContentURL: &url, ReadTimeMinutes: &rt,
		GuardrailsPassed: review.Guardrails{ToneCheck: true, EligibilityCheck: true}, GeneratedAt: at,
		Trace: &review.IngestTrace{SignalsDetectedAt: at, PersonaAssignedAt: at.Add(time.Second), ContentMatchedAt: at.Add(2 * time.Second),
			RationaleGeneratedAt: at.Add(3 * time.Second), GuardrailsCheckedAt: at.Add(4 * time.Second),
			Signals: json.RawMessage(`{"z": 1.50, "a": [true, null]}`), PersonaAssignment: json.RawMessage(`{"primary_persona":"student"}`),
			ContentMatches: json.RawMessage(`[ {"title":"t", "content_id":"c"} ]`), RelevanceScores: json.RawMessage(`{"c": 0.9}`),
			LLMModel: "m", Temperature: 0.7, TokensUsed: 412}}
	bare := review.IngestRecommendation{ID: "rec_2", UserID: "user_1", PersonaPrimary: "student", Type: "quiz",
		Title: "t", Rationale: "r", Priority: "low", GeneratedAt: at}
	for _, c := range []struct {
		name string
		r    review.IngestRecommendation
		want string
	}{
		{"full", full, "52ed175f1832c143e65de7bcbdb9695610907f7dce22814fab7697aff43029d6"},
		{"bare", bare, "88a7802d9cef6d9b0c9936d7cef5dc3d88403c629a9841d6d947d7fe5bb57997"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.r.ContentHash()
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ContentHash = %s, want %s", got, c.want)
			}
			n, h, err := c.r.Prepare("recommendations[0]")
			if err != nil {
				t.Fatal(err)
			}
			if h != c.want {
				t.Errorf("Prepare's hash = %s, want %s", h, c.want)
			}
			if again, _ := n.ContentHash(); again != c.want {
				t.Errorf("the prepared item hashes to %s, want %s", again, c.want)
			}
		})
	}
}
