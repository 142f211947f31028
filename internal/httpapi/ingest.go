package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
)

// IngestUser is one user pushed by the recommendation engine: the profile,
// the signals and the personas per window. The 30-day window is required,
// the 180-day one optional.
type IngestUser struct {
	UserID     string         `json:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"user_0001"`
	Name       *string        `json:"name,omitempty" nullable:"true" minLength:"1" maxLength:"200" example:"Alex Morgan" doc:"Display name; left unchanged when absent"`
	ComputedAt *time.Time     `json:"computed_at,omitempty" nullable:"true" doc:"When the engine computed these signals and personas (default: now). Older data never replaces newer."`
	Signals    IngestSignals  `json:"signals"`
	Personas   IngestPersonas `json:"personas"`
}

// IngestSignals are a user's signals by window.
type IngestSignals struct {
	Days30  Signals  `json:"30d" doc:"Signals over the last 30 days (required)"`
	Days180 *Signals `json:"180d,omitempty" doc:"Signals over the last 180 days"`
}

// IngestPersonas are a user's personas by window.
type IngestPersonas struct {
	Days30  Persona  `json:"30d" doc:"Persona over the last 30 days (required)"`
	Days180 *Persona `json:"180d,omitempty" doc:"Persona over the last 180 days"`
}

// IngestUsersResult is the answer to a user ingest.
type IngestUsersResult struct {
	Upserted       int `json:"upserted" example:"250" doc:"Distinct users created or updated"`
	PersonaChanges int `json:"persona_changes" example:"12" doc:"Persona history entries appended (a window's first persona, or a change of its primary or secondary persona)"`
}

func (w IngestUser) domain() review.IngestUser {
	u := review.IngestUser{
		UserID: w.UserID, Name: w.Name, ComputedAt: w.ComputedAt,
		Signals:  review.IngestSignals{Days30: w.Signals.Days30.domain()},
		Personas: review.IngestPersonas{Days30: review.Persona(w.Personas.Days30)},
	}
	if w.Signals.Days180 != nil {
		sg := w.Signals.Days180.domain()
		u.Signals.Days180 = &sg
	}
	if w.Personas.Days180 != nil {
		p := review.Persona(*w.Personas.Days180)
		u.Personas.Days180 = &p
	}
	return u
}

// IngestRecommendation is one recommendation pushed by the engine.
type IngestRecommendation struct {
	ID               string            `json:"id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"rec_000123" doc:"The engine's id for the recommendation"`
	UserID           string            `json:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"user_0001" doc:"An already ingested user"`
	PersonaPrimary   string            `json:"persona_primary" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"high_utilization"`
	PersonaSecondary *string           `json:"persona_secondary,omitempty" nullable:"true" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"subscription_heavy"`
	Type             string            `json:"type" enum:"article,video,tool,quiz,partner_offer" example:"article"`
	Title            string            `json:"title" minLength:"1" maxLength:"200" example:"Understanding credit utilization"`
	Rationale        string            `json:"rationale" minLength:"1" maxLength:"5000" example:"Your card utilization is 68%, above the 30% that scoring models favour."`
	Priority         string            `json:"priority" enum:"high,medium,low" example:"high"`
	ContentURL       *string           `json:"content_url,omitempty" nullable:"true" maxLength:"2048" example:"https://learn.example.com/credit-utilization"`
	ReadTimeMinutes  *int              `json:"read_time_minutes,omitempty" nullable:"true" minimum:"0" maximum:"1440" example:"5"`
	GuardrailsPassed review.Guardrails `json:"guardrails_passed" doc:"Results of the engine's three guardrail checks"`
	GeneratedAt      time.Time         `json:"generated_at" doc:"When the engine generated the recommendation"`
	Trace            *IngestTrace      `json:"trace,omitempty" doc:"The decision trace; optional"`
}

// IngestTrace is the decision trace sent with a recommendation.
type IngestTrace struct {
	SignalsDetectedAt    time.Time       `json:"signals_detected_at"`
	PersonaAssignedAt    time.Time       `json:"persona_assigned_at"`
	ContentMatchedAt     time.Time       `json:"content_matched_at"`
	RationaleGeneratedAt time.Time       `json:"rationale_generated_at"`
	GuardrailsCheckedAt  time.Time       `json:"guardrails_checked_at"`
	Signals              json.RawMessage `json:"signals" doc:"Signals detected (any JSON document)"`
	PersonaAssignment    json.RawMessage `json:"persona_assignment" doc:"Persona assignment details (any JSON document)"`
	ContentMatches       json.RawMessage `json:"content_matches" doc:"Content matched (any JSON document)"`
	RelevanceScores      json.RawMessage `json:"relevance_scores" doc:"Relevance scores (any JSON document)"`
	LLMModel             string          `json:"llm_model" minLength:"1" maxLength:"200" example:"gpt-4o-mini"`
	Temperature          float64         `json:"temperature" minimum:"0" maximum:"2" example:"0.7"`
	TokensUsed           int             `json:"tokens_used" minimum:"0" example:"412"`
}

// IngestConflict is an item that was not stored, and why.
type IngestConflict struct {
	RecommendationID string `json:"recommendation_id" example:"rec_000123"`
	Reason           string `json:"reason" example:"id_conflict: recommendation \"rec_000123\" already exists with different content"`
}

// IngestRecsResult is the answer to a recommendation ingest.
type IngestRecsResult struct {
	Created   int              `json:"created" example:"998" doc:"New recommendations, now pending review"`
	Unchanged int              `json:"unchanged" example:"1" doc:"Identical replays of recommendations already stored"`
	Conflicts []IngestConflict `json:"conflicts" doc:"Items not stored"`
}

func (w IngestRecommendation) domain() review.IngestRecommendation {
	r := review.IngestRecommendation{
		ID: w.ID, UserID: w.UserID, PersonaPrimary: w.PersonaPrimary, PersonaSecondary: w.PersonaSecondary,
		Type: w.Type, Title: w.Title, Rationale: w.Rationale, Priority: w.Priority,
		ContentURL: w.ContentURL, ReadTimeMinutes: w.ReadTimeMinutes,
		GuardrailsPassed: w.GuardrailsPassed, GeneratedAt: w.GeneratedAt,
	}
	if w.Trace != nil {
		t := review.IngestTrace(*w.Trace)
		r.Trace = &t
	}
	return r
}

func recsResultToWire(r review.IngestRecsResult) IngestRecsResult {
	return IngestRecsResult{Created: r.Created, Unchanged: r.Unchanged,
		Conflicts: convertAll(r.Conflicts, func(c review.IngestConflict) IngestConflict { return IngestConflict(c) })}
}

type ingestUsersInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           struct {
		Users []IngestUser `json:"users" minItems:"1" maxItems:"1000"`
	}
}

type ingestUsersOutput struct{ Body IngestUsersResult }

type ingestRecsInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           struct {
		Recommendations []IngestRecommendation `json:"recommendations" minItems:"1" maxItems:"1000"`
	}
}

type ingestRecsOutput struct{ Body IngestRecsResult }

// ingestMaxBody lets the engine push its full batch of 1,000 items with
// their decision traces (about 1.5 KiB each) in one request. Every other
// endpoint keeps the contract's 1 MiB limit.
const ingestMaxBody = 8 << 20

func (a *API) registerIngest(api huma.API) {
	tags := []string{"Ingest"}
	register(api, huma.Operation{
		OperationID: "ingest-users", Method: http.MethodPost, Path: "/api/ingest/users", Tags: tags,
		Summary:      "Push users, signals and personas",
		Description:  "Upserts profiles, keeps the newest signals per window, and appends to persona history when a window's persona changes.",
		Errors:       []int{http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
		MaxBodyBytes: ingestMaxBody,
	}, func(ctx context.Context, in *ingestUsersInput) (*ingestUsersOutput, error) {
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return IngestUsersResult(r[0].(review.IngestUsersResult)) })
		res, err := a.store.IngestUsers(ctx, convertAll(in.Body.Users, IngestUser.domain))
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &ingestUsersOutput{Body: IngestUsersResult(res)}, nil
	})

	register(api, huma.Operation{
		OperationID: "ingest-recommendations", Method: http.MethodPost, Path: "/api/ingest/recommendations", Tags: tags,
		Summary: "Push recommendations into the review queue",
		Description: "New items enter as pending. Idempotent by id: an identical replay is `unchanged`; different content under an existing id is a conflict and never overwrites. " +
			"An unknown user_id is a conflict. `all_guardrails_passed` is derived here.",
		Errors:       []int{http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
		MaxBodyBytes: ingestMaxBody,
	}, func(ctx context.Context, in *ingestRecsInput) (*ingestRecsOutput, error) {
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return recsResultToWire(r[0].(review.IngestRecsResult)) })
		res, err := a.store.IngestRecommendations(ctx, convertAll(in.Body.Recommendations, IngestRecommendation.domain))
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &ingestRecsOutput{Body: recsResultToWire(res)}, nil
	})
}
