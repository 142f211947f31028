package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

type flagsInput struct {
	Resolved bool `query:"resolved" default:"false" doc:"true for resolved flags."`
	Limit    int  `query:"limit" default:"100" minimum:"1" maximum:"500"`
}

type flagsOutput struct {
	Body []*Flag
}

// Flag is the wire shape of a store.Flag.
type Flag struct {
	FlagID           string         `json:"flag_id"`
	RecommendationID string         `json:"recommendation_id"`
	FlaggedBy        string         `json:"flagged_by"`
	FlagReason       string         `json:"flag_reason"`
	FlaggedAt        time.Time      `json:"flagged_at"`
	Resolved         bool           `json:"resolved"`
	ResolvedBy       *string        `json:"resolved_by"`
	ResolvedAt       *time.Time     `json:"resolved_at"`
	Resolution       *string        `json:"resolution"`
	ResolutionNotes  *string        `json:"resolution_notes"`
	Recommendation   FlagRecSummary `json:"recommendation"`
}

type FlagRecSummary struct {
	ID                  string `json:"id"`
	UserID              string `json:"user_id"`
	Title               string `json:"title"`
	Type                string `json:"type"`
	Priority            string `json:"priority"`
	PersonaPrimary      string `json:"persona_primary"`
	Status              string `json:"status"`
	AllGuardrailsPassed bool   `json:"all_guardrails_passed"`
}

func flagWire(f *store.Flag) *Flag {
	return &Flag{
		FlagID: f.FlagID, RecommendationID: f.RecommendationID, FlaggedBy: f.FlaggedBy, FlagReason: f.FlagReason,
		FlaggedAt: f.FlaggedAt, Resolved: f.Resolved, ResolvedBy: f.ResolvedBy, ResolvedAt: f.ResolvedAt,
		Resolution: f.Resolution, ResolutionNotes: f.ResolutionNotes, Recommendation: FlagRecSummary(f.Recommendation),
	}
}

type resolveInput struct {
	FlagID         string `path:"flag_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           struct {
		Resolution         string `json:"resolution" enum:"approve,reject,requeue"`
		Notes              string `json:"notes" maxLength:"2000" doc:"The senior decision's reason; required to reject or to approve past failed guardrails."`
		OverrideGuardrails bool   `json:"override_guardrails,omitempty" doc:"Approve although a guardrail failed (needs notes)."`
	}
}

type resolveOutput struct {
	Body struct {
		Status           string         `json:"status" enum:"approved,rejected,pending"`
		FlagID           string         `json:"flag_id"`
		RecommendationID string         `json:"recommendation_id"`
		Resolution       string         `json:"resolution"`
		ResolvedBy       string         `json:"resolved_by"`
		ResolvedAt       *time.Time     `json:"resolved_at"`
		Flag             *Flag          `json:"flag"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

func (a *API) registerFlags(api huma.API) {
	register(api, huma.Operation{
		OperationID: "list-flags", Method: http.MethodGet, Path: opPath + "/flags", Tags: []string{"Flags"},
		Summary: "List flags", Description: "Unresolved flags by default, newest first, each with a summary of its recommendation.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *flagsInput) (*flagsOutput, error) {
		flags, err := a.store.ListFlags(ctx, in.Resolved, in.Limit)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &flagsOutput{Body: convertAll(flags, flagWire)}, nil
	})

	register(api, huma.Operation{
		OperationID: "resolve-flag", Method: http.MethodPost, Path: opPath + "/flags/{flag_id}/resolve", Tags: []string{"Flags"},
		Summary: "Resolve a flag",
		Description: "Closes the flag and moves its recommendation to approved, rejected or back to pending, in one transaction with one `resolve_flag` audit row. " +
			"Approving follows the guardrail rule of any approval.",
		Errors: actionErrors,
	}, func(ctx context.Context, in *resolveInput) (*resolveOutput, error) {
		if in.Body.Notes != "" {
			if err := personText("body.notes", in.Body.Notes, review.LongText); err != nil {
				return nil, err
			}
		}
		actor := actorFrom(ctx)
		respond := func(flag *store.Flag, rec *review.Recommendation) *resolveOutput {
			out := &resolveOutput{}
			out.Body.Status, out.Body.FlagID, out.Body.RecommendationID = string(rec.Status), flag.FlagID, rec.ID
			out.Body.Resolution, out.Body.ResolvedBy, out.Body.ResolvedAt = in.Body.Resolution, actor.ID, flag.ResolvedAt
			out.Body.Flag, out.Body.Recommendation = flagWire(flag), toWire(rec)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(*store.Flag), r[1].(*review.Recommendation)).Body })
		flag, rec, err := a.store.ResolveFlag(ctx, review.ResolveInput{FlagID: in.FlagID, Actor: actor,
			Resolution: in.Body.Resolution, Notes: in.Body.Notes, Override: in.Body.OverrideGuardrails})
		a.count("resolve_flag", err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(flag, rec), nil
	})
}
