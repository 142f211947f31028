package review

import (
	"encoding/json"
	"time"
)

// Trace is why the engine made a recommendation, step by step, with the
// recommendation's rationale and guardrail results beside it. The four
// documents are the engine's own JSON, kept as it sent them.
type Trace struct {
	TraceID              string
	RecommendationID     string
	SignalsDetectedAt    time.Time
	PersonaAssignedAt    time.Time
	ContentMatchedAt     time.Time
	RationaleGeneratedAt time.Time
	GuardrailsCheckedAt  time.Time
	CreatedAt            time.Time

	Signals           json.RawMessage
	PersonaAssignment json.RawMessage
	ContentMatches    json.RawMessage
	RelevanceScores   json.RawMessage

	LLMModel    string
	Temperature float64
	TokensUsed  int

	// The recommendation's, flat so that the wire shape converts in one
	// step.
	Rationale        string
	Type             string
	Priority         string
	ToneCheck        bool
	AdviceCheck      bool
	EligibilityCheck bool
	GuardrailsPassed bool
}
