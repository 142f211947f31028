package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/store"
)

type deliveriesInput struct {
	Status string `query:"status" enum:"scheduled,queued,delivered,failed,cancelled,all" doc:"absent or all for every status; scheduled: waiting out the undo window; cancelled: the approval was undone."`
	Limit  int    `query:"limit" default:"100" minimum:"1" maximum:"500"`
}

type deliveriesOutput struct {
	Body []Delivery
}

// Delivery is the wire shape of a store.Delivery.
type Delivery struct {
	RecommendationID string     `json:"recommendation_id"`
	Status           string     `json:"status" enum:"scheduled,queued,delivered,failed,cancelled"`
	Attempts         int        `json:"attempts"`
	LastError        *string    `json:"last_error" nullable:"true"`
	QueuedAt         time.Time  `json:"queued_at"`
	DeliveredAt      *time.Time `json:"delivered_at" nullable:"true"`
	FailedAt         *time.Time `json:"failed_at" nullable:"true"`
	UpdatedAt        time.Time  `json:"updated_at"`
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
		return &deliveriesOutput{Body: convertAll(ds, func(d store.Delivery) Delivery { return Delivery(d) })}, nil
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
