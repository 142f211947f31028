package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
)

type claimInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           *struct {
		Limit    int    `json:"limit,omitempty" minimum:"1" maximum:"100" default:"10"`
		Persona  string `json:"persona,omitempty" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student"`
		Priority string `json:"priority,omitempty" enum:"high,medium,low"`
		Type     string `json:"type,omitempty" enum:"article,video,tool,quiz,partner_offer"`
	}
}

type claimOutput struct {
	Body struct {
		Claimed        []Recommendation `json:"claimed"`
		LeaseExpiresAt time.Time        `json:"lease_expires_at"`
	}
}

type releaseInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           *struct {
		RecommendationIDs []string `json:"recommendation_ids,omitempty" maxItems:"1000" doc:"Omit to release all your claims."`
	}
}

type releaseOutput struct {
	Body struct {
		Released int64 `json:"released"`
	}
}

func (a *API) registerQueue(api huma.API) {
	register(api, huma.Operation{
		OperationID: "claim-queue", Method: http.MethodPost, Path: opPath + "/queue/claim", Tags: []string{"Queue"},
		Summary: "Claim the next pending items",
		Description: "Reserves up to `limit` pending items, oldest first, for you for a lease, so two operators never review the same item. " +
			"Items someone else holds are skipped; acting on one returns 409.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *claimInput) (*claimOutput, error) {
		cin := review.ClaimInput{Actor: actorFrom(ctx), Limit: 10, Lease: a.cfg.ClaimLease}
		if b := in.Body; b != nil {
			cin.Persona, cin.Priority, cin.Type = b.Persona, b.Priority, b.Type
			if b.Limit != 0 {
				cin.Limit = b.Limit
			}
		}
		respond := func(recs []*review.Recommendation, exp time.Time) *claimOutput {
			out := &claimOutput{}
			out.Body.Claimed, out.Body.LeaseExpiresAt = toWireList(recs), exp
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any {
			return respond(r[0].([]*review.Recommendation), r[1].(time.Time)).Body
		})
		recs, exp, err := a.store.Claim(ctx, cin)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(recs, exp), nil
	})

	register(api, huma.Operation{
		OperationID: "release-queue", Method: http.MethodPost, Path: opPath + "/queue/release", Tags: []string{"Queue"},
		Summary: "Release claims", Description: "Gives the named items (or all your claims) back to the queue.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *releaseInput) (*releaseOutput, error) {
		var ids []string
		if in.Body != nil {
			ids = in.Body.RecommendationIDs
		}
		respond := func(n int64) *releaseOutput {
			out := &releaseOutput{}
			out.Body.Released = n
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(int64)).Body })
		n, err := a.store.Release(ctx, actorFrom(ctx), ids)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(n), nil
	})
}
