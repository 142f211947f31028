package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

const opPath = "/api/operator"

type statsInput struct {
	OperatorID string `query:"operator_id" maxLength:"128" doc:"Only this operator's decisions in the today-figures; an unknown operator (any value that is no operator's id) has none."`
	TZ         string `query:"tz" default:"UTC" maxLength:"64" doc:"IANA time zone that defines today." example:"America/New_York"`
}

type statsOutput struct {
	Body store.Stats
}

type flagsInput struct {
	Resolved bool `query:"resolved" default:"false" doc:"true for resolved flags."`
	Limit    int  `query:"limit" default:"100" minimum:"1" maximum:"500"`
}

type flagsOutput struct {
	Body []*store.Flag
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
		Flag             *store.Flag    `json:"flag"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

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

func (a *API) registerFlags(api huma.API) {
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
		return &statsOutput{Body: st}, nil
	})

	register(api, huma.Operation{
		OperationID: "list-flags", Method: http.MethodGet, Path: opPath + "/flags", Tags: []string{"Flags"},
		Summary: "List flags", Description: "Unresolved flags by default, newest first, each with a summary of its recommendation.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *flagsInput) (*flagsOutput, error) {
		flags, err := a.store.ListFlags(ctx, in.Resolved, in.Limit)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &flagsOutput{Body: flags}, nil
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
			out.Body.Flag, out.Body.Recommendation = flag, toWire(rec)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(*store.Flag), r[1].(*review.Recommendation)).Body })
		flag, rec, err := a.store.ResolveFlag(ctx, store.ResolveInput{FlagID: in.FlagID, Actor: actor,
			Resolution: in.Body.Resolution, Notes: in.Body.Notes, Override: in.Body.OverrideGuardrails})
		a.count("resolve_flag", err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(flag, rec), nil
	})
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
		cin := store.ClaimInput{Actor: actorFrom(ctx), Limit: 10, Lease: a.cfg.ClaimLease}
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
