package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/store"
)

type deliveriesInput struct {
	Status string `query:"status" enum:"scheduled,queued,delivered,failed,cancelled,all" doc:"absent or all for every status; scheduled: waiting out the undo window; cancelled: the approval was undone."`
	Limit  int    `query:"limit" default:"100" minimum:"1" maximum:"500"`
}

type deliveriesOutput struct {
	Body []store.Delivery
}

type retryInput struct {
	ID             string `path:"recommendation_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
}

type retryOutput struct {
	Body struct {
		Status           string `json:"status" enum:"queued"`
		RecommendationID string `json:"recommendation_id"`
	}
}

func (a *API) registerDeliveries(api huma.API) {
	register(api, huma.Operation{
		OperationID: "list-deliveries", Method: http.MethodGet, Path: opPath + "/deliveries", Tags: []string{"Delivery"},
		Summary: "List deliveries", Description: "Most recently updated first.", Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *deliveriesInput) (*deliveriesOutput, error) {
		ds, err := a.store.ListDeliveries(ctx, noFilter(in.Status), in.Limit)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &deliveriesOutput{Body: ds}, nil
	})

	register(api, huma.Operation{
		OperationID: "retry-delivery", Method: http.MethodPost, Path: opPath + "/deliveries/{recommendation_id}/retry", Tags: []string{"Delivery"},
		Summary: "Retry a failed delivery", Description: "Re-enqueues it, audited as `retry_delivery`.",
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *retryInput) (*retryOutput, error) {
		out := &retryOutput{}
		out.Body.Status, out.Body.RecommendationID = "queued", in.ID
		recordInTx(ctx, http.StatusOK, func(...any) any { return out.Body })
		if err := a.store.RetryDelivery(ctx, actorFrom(ctx), in.ID); err != nil {
			return nil, a.problem(ctx, err)
		}
		return out, nil
	})
}
