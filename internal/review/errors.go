package review

import (
	"errors"
	"fmt"
)

// Code classifies an error so the edge (HTTP, CLI) can map it once.
type Code string

const (
	ENotFound        Code = "not_found"
	EConflict        Code = "conflict"
	EInvalid         Code = "invalid"
	EUnauthorized    Code = "unauthorized"
	EForbidden       Code = "forbidden"
	EPrecondition    Code = "precondition_failed"
	ETooManyRequests Code = "too_many_requests"
	EInternal        Code = "internal"
)

// Error is a domain error with a code and a message that is safe to show a
// client. CurrentStatus is set on status conflicts so clients can recover.
type Error struct {
	Code          Code
	Message       string
	CurrentStatus Status
	// Reason is a stable code for a refusal that a client tells apart
	// from others of the same Code (bulk approval's failed_items).
	Reason string
}

// Stable reason codes. An item a bulk approval or an ingest batch did not
// take carries one at the start of its reason, then a human explanation,
// so that a client can tell the cases apart without reading prose.
const (
	// Bulk approval's failed_items.
	ReasonNotFound         = "not_found"
	ReasonNotPending       = "not_pending"
	ReasonGuardrailsFailed = "guardrails_failed"
	ReasonClaimed          = "claimed"
	// Both: the id appears earlier in the same request.
	ReasonDuplicate = "duplicate"
	// Recommendation ingest's conflicts.
	ReasonIDConflict  = "id_conflict"
	ReasonUnknownUser = "unknown_user"
)

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for anything not a domain error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// StatusConflict is the 409 for an action not allowed from the current status.
func StatusConflict(action string, current Status) *Error {
	return &Error{
		Code:          EConflict,
		Message:       fmt.Sprintf("cannot %s a recommendation that is %s", action, current),
		CurrentStatus: current,
	}
}

// NotFound is the error for a missing recommendation.
func NotFound(id string) *Error {
	return Errorf(ENotFound, "recommendation %q not found", id)
}
