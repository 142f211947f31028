package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/store"
)

type ingestUsersInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           struct {
		Users []store.IngestUser `json:"users" minItems:"1" maxItems:"1000"`
	}
}

type ingestUsersOutput struct{ Body store.IngestUsersResult }

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
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return r[0].(store.IngestUsersResult) })
		res, err := a.store.IngestUsers(ctx, in.Body.Users)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &ingestUsersOutput{Body: res}, nil
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
