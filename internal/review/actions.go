package review

import (
	"fmt"
	"regexp"
	"time"
)

// Actor is the operator acting, always taken from a verified token.
type Actor struct {
	ID   string
	Role Role
}

// Precondition is what every single-item action may carry.
type Precondition struct {
	// IfMatch, when set, is the version the client last saw (If-Match).
	IfMatch *int64
}

// Check applies the precondition and other operators' claims to rec as it
// stands at now: a changed version is a failed precondition, a live claim
// held by someone else a conflict.
func (p Precondition) Check(rec *Recommendation, actor Actor, now time.Time) error {
	if p.IfMatch != nil && *p.IfMatch != rec.Version {
		return Errorf(EPrecondition,
			"recommendation %q has changed: If-Match is version %d, current version is %d", rec.ID, *p.IfMatch, rec.Version)
	}
	if rec.HeldByOther(actor.ID, now) {
		return &Error{Code: EConflict, CurrentStatus: rec.Status,
			Message: fmt.Sprintf("recommendation %q is claimed by %s until %s", rec.ID, *rec.ClaimedBy, rec.ClaimExpiresAt.Format(time.RFC3339))}
	}
	return nil
}

// ApproveInput is a single approval.
type ApproveInput struct {
	ID       string
	Actor    Actor
	Notes    string
	Override bool
	Pre      Precondition
}

// RejectInput is a rejection.
type RejectInput struct {
	ID     string
	Actor  Actor
	Reason string
	Pre    Precondition
}

// ModifyInput is an edit; nil fields are left alone.
type ModifyInput struct {
	ID        string
	Actor     Actor
	Title     *string
	Rationale *string
	Priority  *string
	Pre       Precondition
}

// Change is one edited field's before and after. Its JSON is part of the
// modify audit row's metadata (and of the modify response), so its field
// names are a stored format.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// FlagInput is a flag for senior review.
type FlagInput struct {
	ID     string
	Actor  Actor
	Reason string
	Pre    Precondition
}

// BulkApproveInput is a bulk approval. It never overrides guardrails.
type BulkApproveInput struct {
	Actor Actor
	IDs   []string
	Notes string
}

// BulkFailure is one item bulk approval did not approve. Reason starts with
// a stable code (ReasonNotFound, ReasonNotPending, …), then a human
// explanation.
type BulkFailure struct {
	RecommendationID string
	Reason           string
}

// BulkResult reports a bulk approval item by item, in request order.
type BulkResult struct {
	BulkID      string // shared by the audit rows of this request's approvals
	Total       int
	Approved    int
	Failed      int
	ApprovedIDs []string
	FailedItems []BulkFailure
}

// ResolveInput is a senior decision on a flag: Resolution is one of
// ResolveApprove, ResolveReject or ResolveRequeue.
type ResolveInput struct {
	FlagID     string
	Actor      Actor
	Resolution string
	Notes      string
	Override   bool
}

// ClaimInput asks for the next pending items to review; empty filters
// match everything.
type ClaimInput struct {
	Actor    Actor
	Limit    int
	Lease    time.Duration
	Persona  string
	Priority string
	Type     string
}

// UndoInput is an undo of the last decision on a recommendation.
type UndoInput struct {
	ID    string
	Actor Actor
	Pre   Precondition
}

// UndoResult is what an undo did.
type UndoResult struct {
	Recommendation *Recommendation
	Restored       Status // the status the item is back in
	RevertedFrom   Status // the status the undone decision had made
	UndoneAuditID  string // the audit row of the undone decision
	UndoneAt       time.Time
}

// OperatorChange is an administrator's change to an operator; nil fields
// stay as they are. Email "" removes the e-mail.
type OperatorChange struct {
	Name    *string
	Email   *string
	Role    *Role
	Enabled *bool
}

// TagNamePattern is the shape of a tag vocabulary name.
const TagNamePattern = `^[a-z0-9_]{1,64}$`

var tagNameRE = regexp.MustCompile(TagNamePattern)

// CheckTagName refuses a vocabulary name that is not of TagNamePattern's
// shape.
func CheckTagName(name string) error {
	if !tagNameRE.MatchString(name) {
		return Errorf(EInvalid, "tag_name must be 1 to 64 lower-case letters, digits or _")
	}
	return nil
}
