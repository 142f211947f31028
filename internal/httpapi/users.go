package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// UserTarget is the user every users operation reads. Inputs embed it;
// huma binds the parameters of an exported embedded struct as its own.
type UserTarget struct {
	UserID string `path:"user_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
}

type userInput struct{ UserTarget }

type userOutput struct{ Body *UserProfile }

type signalsInput struct {
	UserTarget
	WindowType string `query:"window_type" default:"30d" enum:"30d,180d"`
}

type signalsOutput struct{ Body *UserSignals }

type historyInput struct {
	UserTarget
	Days int `query:"days" default:"180" minimum:"1" maximum:"3650"`
}

type historyOutput struct{ Body []PersonaHistoryEntry }

func (a *API) registerUsers(api huma.API) {
	tags := []string{"Users"}
	register(api, huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: opPath + "/users/{user_id}", Tags: tags,
		Summary: "User profile", Description: "Profile, current personas for both windows, recommendation counts by status.",
		Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *userInput) (*userOutput, error) {
		p, err := a.store.GetUserProfile(ctx, in.UserID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &userOutput{Body: profileToWire(p)}, nil
	})

	register(api, huma.Operation{
		OperationID: "get-user-signals", Method: http.MethodGet, Path: opPath + "/users/{user_id}/signals", Tags: tags,
		Summary: "User signals for one window", Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *signalsInput) (*signalsOutput, error) {
		sg, err := a.store.GetUserSignals(ctx, in.UserID, in.WindowType)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &signalsOutput{Body: userSignalsToWire(sg)}, nil
	})

	register(api, huma.Operation{
		OperationID: "get-persona-history", Method: http.MethodGet, Path: opPath + "/users/{user_id}/persona-history", Tags: tags,
		Summary: "Persona history", Description: "Persona changes over the last `days` days, newest first.",
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *historyInput) (*historyOutput, error) {
		h, err := a.store.PersonaHistory(ctx, in.UserID, in.Days, a.store.Now())
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &historyOutput{Body: historyToWire(h)}, nil
	})
}
