package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

type statsInput struct {
	OperatorID string `query:"operator_id" maxLength:"128" doc:"Only this operator's decisions in the today-figures; an unknown operator (any value that is no operator's id) has none."`
	TZ         string `query:"tz" default:"UTC" maxLength:"64" doc:"IANA time zone that defines today." example:"America/New_York"`
}

type statsOutput struct {
	Body Stats
}

// Stats is the wire shape of store.Stats.
type Stats struct {
	Pending              int64   `json:"pending"`
	ApprovedToday        int64   `json:"approved_today"`
	RejectedToday        int64   `json:"rejected_today"`
	Flagged              int64   `json:"flagged"`
	AvgReviewTimeSeconds float64 `json:"avg_review_time_seconds"`
}

// registerStats registers the queue and decision figures.
func (a *API) registerStats(api huma.API) {
	register(api, huma.Operation{
		OperationID: "get-stats", Method: http.MethodGet, Path: opPath + "/stats", Tags: []string{"Stats"},
		Summary: "Queue and decision figures",
		Description: "`pending` and `flagged` (unresolved flags) are global. The today-figures cover the calendar day in `tz`, " +
			"for `operator_id` alone when given. `avg_review_time_seconds` is the mean time from entering the queue to the decision over today's decisions (0 when none).",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *statsInput) (*statsOutput, error) {
		loc, err := time.LoadLocation(in.TZ)
		if err != nil || in.TZ == "" || in.TZ == "Local" {
			return nil, invalid("query.tz", "tz must be an IANA time zone name such as UTC or Europe/London", in.TZ)
		}
		now := a.store.Now().In(loc)
		start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
		end := start.AddDate(0, 0, 1)
		// Any value is accepted, as the contract's "an unknown id gives zeros"
		// says: the public dashboard sends its own cache key here
		// (operator_id=/api/operator/stats). One that cannot be an id never
		// reaches SQL; its operator has decided nothing today.
		operatorID, noSuchOperator := in.OperatorID, in.OperatorID != "" && !review.ValidID(in.OperatorID)
		if noSuchOperator {
			operatorID = ""
		}
		st, err := a.store.Stats(ctx, store.StatsInput{DayStart: start, DayEnd: end, OperatorID: operatorID})
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		if noSuchOperator {
			st.ApprovedToday, st.RejectedToday, st.AvgReviewTimeSeconds = 0, 0, 0
		}
		return &statsOutput{Body: Stats(st)}, nil
	})
}
