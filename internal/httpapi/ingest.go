package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
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
		Recommendations []store.IngestRecommendation `json:"recommendations" minItems:"1" maxItems:"1000"`
	}
}

type ingestRecsOutput struct{ Body store.IngestRecsResult }

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
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return r[0].(store.IngestRecsResult) })
		res, err := a.store.IngestRecommendations(ctx, in.Body.Recommendations)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &ingestRecsOutput{Body: res}, nil
	})
}
