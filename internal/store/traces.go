package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spendsense/operator-api/internal/review"
)

// GetTrace returns the decision trace of a recommendation. A missing
// recommendation and a recommendation without a trace are both not-found,
// with different messages.
func (s *Store) GetTrace(ctx context.Context, recommendationID string) (*review.Trace, error) {
	var (
		t                                     review.Trace
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
