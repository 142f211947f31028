package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

type messageOutput struct {
	Body struct {
		Message string `json:"message" example:"SpendSense Operator Dashboard API"`
	}
}

type healthOutput struct {
	Body struct {
		Status string `json:"status" example:"healthy"`
	}
}

func (a *API) registerOpen(api huma.API) {
	tags := []string{"Service"}
	register(api, huma.Operation{OperationID: "root", Method: http.MethodGet, Path: "/", Tags: tags, Summary: "Service banner"},
		func(ctx context.Context, _ *struct{}) (*messageOutput, error) {
			out := &messageOutput{}
			out.Body.Message = "SpendSense Operator Dashboard API"
			return out, nil
		})
	register(api, huma.Operation{OperationID: "health", Method: http.MethodGet, Path: "/health", Tags: tags,
		Summary: "Liveness", Description: "The process is up. Does not touch the database."},
		func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
			out := &healthOutput{}
			out.Body.Status = "healthy"
			return out, nil
		})
	register(api, huma.Operation{OperationID: "ready", Method: http.MethodGet, Path: "/ready", Tags: tags,
		Summary: "Readiness", Description: "200 when the database answers, 503 otherwise.", Errors: []int{http.StatusServiceUnavailable}},
		func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := a.store.Ping(ctx); err != nil {
				return nil, huma.NewError(http.StatusServiceUnavailable, "database unavailable")
			}
			out := &healthOutput{}
			out.Body.Status = "ready"
			return out, nil
		})
}
