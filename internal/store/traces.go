package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Trace is GET /recommendations/{id}/trace: why the engine made a
// recommendation, step by step, with the recommendation's rationale and
// guardrail results beside it. The four documents are the engine's own,
// returned as parsed JSON (not strings holding JSON).
type Trace struct {
	TraceID              string    `json:"trace_id" example:"0192f5a4-6c1e-7c3a-9b1e-3f5d2a7c8e10"`
	RecommendationID     string    `json:"recommendation_id" example:"rec_000123"`
	SignalsDetectedAt    time.Time `json:"signals_detected_at"`
	PersonaAssignedAt    time.Time `json:"persona_assigned_at"`
	ContentMatchedAt     time.Time `json:"content_matched_at"`
	RationaleGeneratedAt time.Time `json:"rationale_generated_at"`
	GuardrailsCheckedAt  time.Time `json:"guardrails_checked_at"`
	CreatedAt            time.Time `json:"created_at" doc:"When the trace was stored"`

	Signals           json.RawMessage `json:"signals" doc:"The signals the engine detected (engine-defined document)"`
	PersonaAssignment json.RawMessage `json:"persona_assignment" doc:"How the persona was assigned (engine-defined document)"`
	ContentMatches    json.RawMessage `json:"content_matches" doc:"The content the engine matched (engine-defined document)"`
	RelevanceScores   json.RawMessage `json:"relevance_scores" doc:"Relevance scores of the matches (engine-defined document)"`

	LLMModel    string  `json:"llm_model" example:"gpt-4o-mini"`
	Temperature float64 `json:"temperature" example:"0.7"`
	TokensUsed  int     `json:"tokens_used" example:"412"`

	Rationale        string `json:"rationale"`
	Type             string `json:"type" enum:"article,video,tool,quiz,partner_offer"`
	Priority         string `json:"priority" enum:"high,medium,low"`
	ToneCheck        bool   `json:"tone_check"`
	AdviceCheck      bool   `json:"advice_check"`
	EligibilityCheck bool   `json:"eligibility_check"`
	GuardrailsPassed bool   `json:"guardrails_passed" doc:"Whether all three guardrail checks passed"`
}

// GetTrace returns the decision trace of a recommendation. A missing
// recommendation and a recommendation without a trace are both not-found,
// with different messages.
func (s *Store) GetTrace(ctx context.Context, recommendationID string) (*Trace, error) {
	var (
		t                                     Trace
		traceID                               sql.NullString
		detected, assigned, matched, gen, chk NullTime
		created                               NullTime
		signals, persona, matches, scores     []byte
		model                                 sql.NullString
		temperature                           sql.NullFloat64
		tokens                                sql.NullInt64
	)
	err := s.reads().QueryRow(ctx, `SELECT r.recommendation_id, r.rationale, r.type, r.priority,
 r.tone_check, r.advice_check, r.eligibility_check,
 t.trace_id, t.signals_detected_at, t.persona_assigned_at, t.content_matched_at, t.rationale_generated_at,
 t.guardrails_checked_at, t.signals_json, t.persona_assignment_json, t.content_matches_json, t.relevance_scores_json,
 t.llm_model, t.temperature, t.tokens_used, t.created_at
FROM recommendations r LEFT JOIN decision_traces t ON t.recommendation_id = r.recommendation_id
WHERE r.recommendation_id = ?`, recommendationID).Scan(
		&t.RecommendationID, &t.Rationale, &t.Type, &t.Priority,
		&t.ToneCheck, &t.AdviceCheck, &t.EligibilityCheck,
		&traceID, &detected, &assigned, &matched, &gen,
		&chk, &signals, &persona, &matches, &scores,
		&model, &temperature, &tokens, &created)
	if errors.Is(err, errNotFound) {
		return nil, review.NotFound(recommendationID)
	}
	if err != nil {
		return nil, fmt.Errorf("get trace: %w", err)
	}
	if !traceID.Valid {
		return nil, review.Errorf(review.ENotFound, "no decision trace recorded for recommendation %q", recommendationID)
	}
	t.TraceID = traceID.String
	t.SignalsDetectedAt, t.PersonaAssignedAt, t.ContentMatchedAt = detected.Time, assigned.Time, matched.Time
	t.RationaleGeneratedAt, t.GuardrailsCheckedAt, t.CreatedAt = gen.Time, chk.Time, created.Time
	for _, d := range []struct {
		dst *json.RawMessage
		src []byte
	}{{&t.Signals, signals}, {&t.PersonaAssignment, persona}, {&t.ContentMatches, matches}, {&t.RelevanceScores, scores}} {
		if !json.Valid(d.src) {
			return nil, fmt.Errorf("trace of %q holds a JSON column that does not parse", recommendationID)
		}
		*d.dst = json.RawMessage(d.src)
	}
	t.LLMModel, t.Temperature, t.TokensUsed = model.String, temperature.Float64, int(tokens.Int64)
	t.GuardrailsPassed = t.ToneCheck && t.AdviceCheck && t.EligibilityCheck
	return &t, nil
}
