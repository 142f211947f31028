package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// ActionTarget is what every single-item action takes besides its body:
// the recommendation, the version the client last saw and the key that
// makes a retry safe. Inputs embed it; huma binds the parameters of an
// exported embedded struct as its own.
type ActionTarget struct {
	ID             string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Recommendation id."`
	IfMatch        string `header:"If-Match" doc:"The version (ETag) you last saw; 412 if it has changed since."`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
}

// Resolve parses If-Match into the store's precondition. A value that
// cannot be a version can never match, so it is a 412 like a stale one.
// (It is called by the handler, not by huma as a huma.Resolver would be,
// so that the 412 carries its own detail.)
func (t *ActionTarget) Resolve() (review.Precondition, error) {
	v := strings.TrimSpace(t.IfMatch)
	if v == "" || v == "*" {
		return review.Precondition{}, nil
	}
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return review.Precondition{}, huma.NewError(http.StatusPreconditionFailed, "If-Match must be the ETag of the recommendation, e.g. \"3\"")
	}
	return review.Precondition{IfMatch: &n}, nil
}

type approveInput struct {
	ActionTarget
	Body *struct {
		Notes              string `json:"notes,omitempty" maxLength:"2000" doc:"Why it is approved; required with override_guardrails."`
		OverrideGuardrails bool   `json:"override_guardrails,omitempty" doc:"senior_operator/admin only: approve although a guardrail failed."`
	} // optional: an approval may come without a body
}

type approveOutput struct {
	Body struct {
		Status           string         `json:"status" enum:"approved"`
		RecommendationID string         `json:"recommendation_id"`
		ApprovedBy       string         `json:"approved_by"`
		ApprovedAt       time.Time      `json:"approved_at"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

type rejectInput struct {
	ActionTarget
	Body struct {
		Reason string `json:"reason" minLength:"1" maxLength:"2000" doc:"Why it must not reach the customer."`
	}
}

type rejectOutput struct {
	Body struct {
		Status           string         `json:"status" enum:"rejected"`
		RecommendationID string         `json:"recommendation_id"`
		RejectedBy       string         `json:"rejected_by"`
		RejectedAt       time.Time      `json:"rejected_at"`
		Reason           string         `json:"reason"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

type modifyInput struct {
	ActionTarget
	Body struct {
		Title     *string `json:"title,omitempty" minLength:"1" maxLength:"200"`
		Rationale *string `json:"rationale,omitempty" minLength:"1" maxLength:"5000"`
		Priority  *string `json:"priority,omitempty" enum:"high,medium,low"`
	}
}

type modifyOutput struct {
	Body struct {
		Status           string                   `json:"status" enum:"modified"`
		RecommendationID string                   `json:"recommendation_id"`
		ModifiedBy       string                   `json:"modified_by"`
		ModifiedAt       *time.Time               `json:"modified_at"`
		Modifications    map[string]review.Change `json:"modifications" doc:"Each changed field with its value before and after."`
		Recommendation   Recommendation           `json:"recommendation"`
	}
}

type flagInput struct {
	ActionTarget
	Body struct {
		Reason string `json:"reason" minLength:"1" maxLength:"2000" doc:"What a senior operator should look at."`
	}
}

type flagOutput struct {
	Body struct {
		Status           string         `json:"status" enum:"flagged"`
		RecommendationID string         `json:"recommendation_id"`
		FlagID           string         `json:"flag_id"`
		FlaggedBy        string         `json:"flagged_by"`
		FlaggedAt        time.Time      `json:"flagged_at"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

type undoInput struct {
	ActionTarget
}

type undoOutput struct {
	Body struct {
		Status           string         `json:"status" enum:"undone"`
		RecommendationID string         `json:"recommendation_id"`
		RestoredStatus   string         `json:"restored_status" enum:"pending,approved,rejected,flagged" doc:"The status the item is back in."`
		RevertedFrom     string         `json:"reverted_from" enum:"pending,approved,rejected,flagged" doc:"The status the undone decision had made."`
		UndoneBy         string         `json:"undone_by"`
		UndoneAt         time.Time      `json:"undone_at"`
		Recommendation   Recommendation `json:"recommendation"`
	}
}

type bulkInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
	Body           struct {
		RecommendationIDs []string `json:"recommendation_ids" minItems:"1" maxItems:"1000" doc:"Up to 1,000 ids; each stands alone."`
		Notes             string   `json:"notes,omitempty" maxLength:"2000"`
	}
}

type bulkOutput struct {
	Body BulkResult
}

// BulkResult is a bulk approval's report on the wire.
type BulkResult struct {
	Total       int           `json:"total"`
	Approved    int           `json:"approved"`
	Failed      int           `json:"failed"`
	ApprovedIDs []string      `json:"approved_ids"`
	FailedItems []BulkFailure `json:"failed_items"`
}

// BulkFailure is one item a bulk approval did not approve, on the wire.
type BulkFailure struct {
	RecommendationID string `json:"recommendation_id"`
	Reason           string `json:"reason"`
}

func toWireBulk(res review.BulkResult) BulkResult {
	failed := make([]BulkFailure, len(res.FailedItems))
	for i, f := range res.FailedItems {
		failed[i] = BulkFailure(f)
	}
	return BulkResult{Total: res.Total, Approved: res.Approved, Failed: res.Failed, ApprovedIDs: res.ApprovedIDs, FailedItems: failed}
}

// actionErrors are the statuses an action may answer besides 200.
var actionErrors = []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity}

// count records an action's outcome in the metrics and passes err on.
func (a *API) count(action string, err error) {
	if errors.Is(err, store.ErrIdemAnswered) {
		return // not acted on: the key's first request was counted
	}
	outcome := "ok"
	switch review.ErrorCode(err) {
	case review.EInternal:
		if err != nil {
			outcome = "error"
		}
	case review.EConflict, review.EPrecondition:
		outcome = "conflict"
	default:
		outcome = "rejected"
	}
	a.metrics.actions.WithLabelValues(action, outcome).Inc()
}

func (a *API) registerActions(api huma.API) {
	tags := []string{"Actions"}
	a.registerApprove(api, tags)
	a.registerReject(api, tags)
	a.registerModify(api, tags)
	a.registerFlag(api, tags)
	a.registerUndo(api, tags)
	a.registerBulkApprove(api, tags)
}

func (a *API) registerApprove(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "approve", Method: http.MethodPost, Path: recPath + "/{id}/approve", Tags: tags,
		Summary:     "Approve a pending recommendation",
		Description: "Approves and enqueues delivery in one transaction with its audit row. A recommendation whose guardrails failed needs `override_guardrails` and notes from a senior_operator or admin.",
		Errors:      actionErrors,
	}, func(ctx context.Context, in *approveInput) (*approveOutput, error) {
		pre, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		actor := actorFrom(ctx)
		ain := review.ApproveInput{ID: in.ID, Actor: actor, Pre: pre}
		if in.Body != nil {
			ain.Notes, ain.Override = in.Body.Notes, in.Body.OverrideGuardrails
			if ain.Notes != "" {
				if err := personText("body.notes", ain.Notes, review.LongText); err != nil {
					return nil, err
				}
			}
		}
		respond := func(rec *review.Recommendation) *approveOutput {
			out := &approveOutput{}
			out.Body.Status, out.Body.RecommendationID, out.Body.ApprovedBy = "approved", rec.ID, actor.ID
			out.Body.ApprovedAt, out.Body.Recommendation = *rec.ApprovedAt, toWire(rec)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(*review.Recommendation)).Body })
		rec, err := a.store.Approve(ctx, ain)
		a.count(review.ActionApprove, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(rec), nil
	})
}

func (a *API) registerReject(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "reject", Method: http.MethodPost, Path: recPath + "/{id}/reject", Tags: tags,
		Summary: "Reject a pending recommendation", Errors: actionErrors,
	}, func(ctx context.Context, in *rejectInput) (*rejectOutput, error) {
		pre, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		if err := personText("body.reason", in.Body.Reason, review.LongText); err != nil {
			return nil, err
		}
		actor := actorFrom(ctx)
		respond := func(rec *review.Recommendation) *rejectOutput {
			out := &rejectOutput{}
			out.Body.Status, out.Body.RecommendationID, out.Body.RejectedBy = "rejected", rec.ID, actor.ID
			out.Body.RejectedAt, out.Body.Reason, out.Body.Recommendation = *rec.RejectedAt, in.Body.Reason, toWire(rec)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(*review.Recommendation)).Body })
		rec, err := a.store.Reject(ctx, review.RejectInput{ID: in.ID, Actor: actor, Reason: in.Body.Reason, Pre: pre})
		a.count(review.ActionReject, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(rec), nil
	})
}

func (a *API) registerModify(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "modify", Method: http.MethodPatch, Path: recPath + "/{id}", Tags: tags,
		Summary:     "Edit a recommendation under review",
		Description: "Edits title, rationale or priority while the item is pending or flagged; the status is unchanged. The audit row records each field before and after. Fields equal to their current value are not changes.",
		Errors:      actionErrors,
	}, func(ctx context.Context, in *modifyInput) (*modifyOutput, error) {
		pre, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		b := in.Body
		if b.Title == nil && b.Rationale == nil && b.Priority == nil {
			return nil, invalid("body", "send at least one of title, rationale, priority", nil)
		}
		if b.Title != nil {
			if err := personText("body.title", *b.Title, review.ShortText); err != nil {
				return nil, err
			}
		}
		if b.Rationale != nil {
			if err := personText("body.rationale", *b.Rationale, review.LongText); err != nil {
				return nil, err
			}
		}
		actor := actorFrom(ctx)
		respond := func(rec *review.Recommendation, changes map[string]review.Change) *modifyOutput {
			out := &modifyOutput{}
			out.Body.Status, out.Body.RecommendationID, out.Body.Modifications = "modified", rec.ID, changes
			out.Body.ModifiedBy, out.Body.ModifiedAt, out.Body.Recommendation = actor.ID, rec.ModifiedAt, toWire(rec)
			if rec.ModifiedBy != nil {
				out.Body.ModifiedBy = *rec.ModifiedBy
			}
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any {
			return respond(r[0].(*review.Recommendation), r[1].(map[string]review.Change)).Body
		})
		rec, changes, err := a.store.Modify(ctx, review.ModifyInput{ID: in.ID, Actor: actor, Title: b.Title, Rationale: b.Rationale, Priority: b.Priority, Pre: pre})
		a.count(review.ActionModify, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(rec, changes), nil
	})
}

func (a *API) registerFlag(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "flag", Method: http.MethodPost, Path: recPath + "/{id}/flag", Tags: tags,
		Summary: "Flag a pending recommendation for senior review", Errors: actionErrors,
	}, func(ctx context.Context, in *flagInput) (*flagOutput, error) {
		pre, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		if err := personText("body.reason", in.Body.Reason, review.LongText); err != nil {
			return nil, err
		}
		actor := actorFrom(ctx)
		respond := func(rec *review.Recommendation, flagID string) *flagOutput {
			out := &flagOutput{}
			out.Body.Status, out.Body.RecommendationID, out.Body.FlagID = "flagged", rec.ID, flagID
			out.Body.FlaggedBy, out.Body.FlaggedAt, out.Body.Recommendation = actor.ID, rec.UpdatedAt, toWire(rec)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(*review.Recommendation), r[1].(string)).Body })
		rec, flagID, err := a.store.Flag(ctx, review.FlagInput{ID: in.ID, Actor: actor, Reason: in.Body.Reason, Pre: pre})
		a.count(review.ActionFlag, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(rec, flagID), nil
	})
}

func (a *API) registerUndo(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "undo", Method: http.MethodPost, Path: recPath + "/{id}/undo", Tags: tags,
		Summary: "Undo the last decision on a recommendation",
		Description: "Within the undo window (`SPENDSENSE_UNDO_WINDOW`, default 5m; `0` turns undo off) after an approve, reject, flag or flag resolution, " +
			"the operator who made it, or a senior_operator/admin, may take it back: the item returns to `previous_status`, a flag the decision opened is withdrawn, " +
			"a flag it closed is open again, and an approval's scheduled delivery is cancelled, in one transaction with an `undo` audit row. " +
			"`409` when there is nothing to undo, the window has closed, the delivery has started, or the decision was already undone (one level only).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}, func(ctx context.Context, in *undoInput) (*undoOutput, error) {
		pre, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		actor := actorFrom(ctx)
		respond := func(res review.UndoResult) *undoOutput {
			out := &undoOutput{}
			out.Body.Status, out.Body.RecommendationID, out.Body.UndoneBy, out.Body.UndoneAt = "undone", in.ID, actor.ID, res.UndoneAt
			out.Body.RestoredStatus, out.Body.RevertedFrom = string(res.Restored), string(res.RevertedFrom)
			out.Body.Recommendation = toWire(res.Recommendation)
			return out
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return respond(r[0].(review.UndoResult)).Body })
		res, err := a.store.Undo(ctx, review.UndoInput{ID: in.ID, Actor: actor, Pre: pre})
		a.count(review.ActionUndo, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(res), nil
	})
}

func (a *API) registerBulkApprove(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "bulk-approve", Method: http.MethodPost, Path: recPath + "/bulk-approve", Tags: tags,
		Summary: "Approve many recommendations",
		Description: "Each id stands alone. Failed items carry a reason starting with a stable code: " +
			"`not_found`, `not_pending`, `guardrails_failed`, `duplicate`, `claimed`. Each approval has its own audit row with a shared `bulk_id`. " +
			"Guardrail failures are never overridden in bulk.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *bulkInput) (*bulkOutput, error) {
		if in.Body.Notes != "" {
			if err := personText("body.notes", in.Body.Notes, review.LongText); err != nil {
				return nil, err
			}
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return toWireBulk(r[0].(review.BulkResult)) })
		res, err := a.store.BulkApprove(ctx, review.BulkApproveInput{Actor: actorFrom(ctx), IDs: in.Body.RecommendationIDs, Notes: in.Body.Notes})
		if err != nil {
			a.count("bulk_approve", err)
			return nil, a.problem(ctx, err)
		}
		a.metrics.actions.WithLabelValues(review.ActionApprove, "ok").Add(float64(res.Approved))
		a.metrics.actions.WithLabelValues(review.ActionApprove, "rejected").Add(float64(res.Failed))
		return &bulkOutput{Body: toWireBulk(res)}, nil
	})
}
