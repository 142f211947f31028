package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Trace is the wire shape of GET /recommendations/{id}/trace. The four
// documents are returned as parsed JSON, not strings holding JSON.
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

type traceOutput struct{ Body *Trace }

func (a *API) registerTrace(api huma.API) {
	register(api, huma.Operation{
		OperationID: "get-trace", Method: http.MethodGet, Path: recPath + "/{id}/trace", Tags: []string{"Recommendations"},
		Summary: "Decision trace", Description: "Why the engine made this recommendation: signals, persona assignment, content matches, relevance scores, the LLM call and the guardrail results.",
		Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *getRecInput) (*traceOutput, error) {
		t, err := a.store.GetTrace(ctx, in.ID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		w := Trace(*t) // the same fields as the domain's, only tagged
		return &traceOutput{Body: &w}, nil
	})
}
