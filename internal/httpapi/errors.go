package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Problem is the RFC 9457 body of every error. It is huma's ErrorModel plus
// current_status, which 409s carry so a client can see why it lost.
type Problem struct {
	huma.ErrorModel
	CurrentStatus string `json:"current_status,omitempty" doc:"On 409: the recommendation's status now." enum:"pending,approved,rejected,flagged"`
}

// installErrorModel makes every error huma writes, ours or its own
// (validation, body too large, malformed JSON), a Problem with a detail.
//
// An error detail never carries the value it is about: huma would put the
// offending part of the request there (the whole body, for malformed JSON
// or a wrong Content-Type; a 1 MiB array for a field that wanted a
// string), and so send a login's password, or a megabyte, back to whoever
// sent it. The location and message say what to fix.
func installErrorModel() {
	// JSON keys match exactly, case included: encoding/json would take
	// {"Notes": …} as notes, and huma's validator by default forgives case
	// to agree with it. With strict casing the validator refuses the key as
	// unknown (422) before anything is decoded.
	huma.ValidateStrictCasing = true
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		p := &Problem{ErrorModel: huma.ErrorModel{Status: status, Title: http.StatusText(status), Detail: msg}}
		for _, err := range errs {
			if err == nil {
				continue
			}
			var de huma.ErrorDetailer
			if errors.As(err, &de) {
				d := *de.ErrorDetail()
				d.Value = nil
				p.Errors = append(p.Errors, &d)
			} else if status < 500 {
				p.Errors = append(p.Errors, &huma.ErrorDetail{Message: err.Error()})
			}
		}
		if status == http.StatusUnprocessableEntity && len(p.Errors) > 0 {
			p.Detail = detailOf(p.Errors[0])
		}
		return p
	}
}

// detailOf is a 422's detail: the first failing field and what is wrong
// with it, since a client that shows only detail must still tell its user
// what to fix ("validation failed" alone did not).
func detailOf(e *huma.ErrorDetail) string {
	where := strings.TrimPrefix(e.Location, "body.")
	switch {
	case where == "" || where == "body":
		return "request body: " + e.Message
	case strings.HasPrefix(where, "query."):
		return "query parameter " + strings.TrimPrefix(where, "query.") + ": " + e.Message
	case strings.HasPrefix(where, "path."):
		return "path parameter " + strings.TrimPrefix(where, "path.") + ": " + e.Message
	case strings.HasPrefix(where, "header."):
		return "header " + strings.TrimPrefix(where, "header.") + ": " + e.Message
	}
	return where + ": " + e.Message
}

// domainStatus maps each domain error code to its HTTP status: the one place
// this mapping lives.
var domainStatus = map[review.Code]int{
	review.ENotFound:        http.StatusNotFound,
	review.EConflict:        http.StatusConflict,
	review.EInvalid:         http.StatusUnprocessableEntity,
	review.EUnauthorized:    http.StatusUnauthorized,
	review.EForbidden:       http.StatusForbidden,
	review.EPrecondition:    http.StatusPreconditionFailed,
	review.ETooManyRequests: http.StatusTooManyRequests,
}

// problem turns any error from below into a client-safe status error. Only
// domain errors keep their message; anything else is logged in full and
// shown as a bare internal error, so no SQL or stack reaches a client.
func (a *API) problem(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	var de *review.Error
	if errors.As(err, &de) {
		status, ok := domainStatus[de.Code]
		if ok {
			p := huma.NewError(status, de.Message).(*Problem)
			if status == http.StatusConflict && de.CurrentStatus != "" {
				p.CurrentStatus = string(de.CurrentStatus)
			}
			return p
		}
	}
	if errors.Is(err, store.ErrIdemAnswered) {
		// The idempotency layer sends the key's answer instead of this.
		return huma.NewError(http.StatusConflict, "answered by the first request with this Idempotency-Key")
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nothing useful to tell it.
		return huma.NewError(499, "request canceled")
	}
	if store.Unavailable(err) {
		a.log.WarnContext(ctx, "database unavailable", slog.String("error", err.Error()))
		return huma.ErrorWithHeaders(huma.NewError(http.StatusServiceUnavailable, unavailableDetail),
			http.Header{"Retry-After": {retryAfterUnavailable}})
	}
	a.log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return huma.NewError(http.StatusInternalServerError, "internal error")
}

// When the database is unreachable, too slow or out of space the answer is
// 503 with Retry-After, never a bare 500: a client can then tell an outage
// it should wait out from a bug. A request that fails so changed nothing
// (its transaction did not commit), unless the commit itself was what timed
// out: the Idempotency-Key makes the retry safe either way.
const (
	unavailableDetail     = "the database is unavailable or did not answer in time; retry later (with the same Idempotency-Key for an action)"
	retryAfterUnavailable = "2"
)

// writeError answers err outside a huma operation (a panic, the
// idempotency layer) with what problem makes of it inside one.
func (a *API) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	perr := a.problem(ctx, err)
	var he huma.HeadersError
	if errors.As(perr, &he) {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	var p *Problem // what problem answers with (installErrorModel)
	errors.As(perr, &p)
	writeProblem(w, p.Status, p.Detail)
}

// invalid is a 422 naming one field.
func invalid(location, msg string, value any) error {
	return huma.NewError(http.StatusUnprocessableEntity, "validation failed",
		&huma.ErrorDetail{Location: location, Message: msg, Value: value})
}

// personText is a 422 naming location when s is not text a person can read
// later (review.CheckText): nothing visible, control characters, or
// bidirectional overrides. The value is never echoed back.
func personText(location, s string, kind review.TextKind) error {
	if why := review.CheckText(s, kind); why != "" {
		return invalid(location, why, nil)
	}
	return nil
}
