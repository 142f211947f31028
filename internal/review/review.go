// Package review holds the domain of SpendSense operator review: the
// recommendation and its status machine, the guardrail rule, the roles and
// the error codes every other package speaks. It knows nothing of HTTP or SQL.
package review

import (
	"regexp"
	"time"
)

// Status is where a recommendation stands in review.
type Status string

const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusRejected Status = "rejected"
	StatusFlagged  Status = "flagged"
)

// Statuses lists every status, in the order clients see them documented.
var Statuses = []string{"pending", "approved", "rejected", "flagged"}

// Enumerations of the contract. They are slices of strings so that the HTTP
// layer can hand them to its schema generator unchanged.
var (
	Personas   = []string{"high_utilization", "variable_income_budgeter", "subscription_heavy", "savings_builder", "student"}
	Types      = []string{"article", "video", "tool", "quiz", "partner_offer"}
	Priorities = []string{"high", "medium", "low"}
	Windows    = []string{"30d", "180d"}
)

// Action names as written to operator_audit_log.action.
const (
	ActionApprove       = "approve"
	ActionReject        = "reject"
	ActionModify        = "modify"
	ActionFlag          = "flag"
	ActionResolveFlag   = "resolve_flag"
	ActionRetryDelivery = "retry_delivery"
	ActionUndo          = "undo"
	ActionNoteAdd       = "note_add"
	ActionNoteEdit      = "note_edit"
	ActionNoteDelete    = "note_delete"
	ActionTagAdd        = "tag_add"
	ActionTagRemove     = "tag_remove"
	ActionTagVocabulary = "tag_vocabulary"

	// Operator administration: the audit row's operator_id is the admin
	// who did it, or "cli" from the command line.
	ActionOperatorAdd     = "operator_add"
	ActionOperatorDisable = "operator_disable"
	ActionOperatorEnable  = "operator_enable"
	ActionOperatorRole    = "operator_role"
	ActionOperatorPasswd  = "operator_passwd"
	// ActionOperatorEdit records a change of an operator's name or e-mail,
	// which the contract's list of actions does not name.
	ActionOperatorEdit = "operator_edit"
)

// Actions lists every audit action.
var Actions = []string{ActionApprove, ActionReject, ActionModify, ActionFlag, ActionResolveFlag, ActionRetryDelivery,
	ActionUndo, ActionNoteAdd, ActionNoteEdit, ActionNoteDelete, ActionTagAdd, ActionTagRemove, ActionTagVocabulary,
	ActionOperatorAdd, ActionOperatorDisable, ActionOperatorEnable, ActionOperatorRole, ActionOperatorPasswd, ActionOperatorEdit}

// Flag resolutions.
const (
	ResolveApprove = "approve"
	ResolveReject  = "reject"
	ResolveRequeue = "requeue"
)

// Delivery states. Delivery is not a review status: it is shown beside it.
const (
	DeliveryScheduled = "scheduled" // approved, waiting out the undo window
	DeliveryQueued    = "queued"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliveryCancelled = "cancelled" // the approval was undone before sending
)

// IDPattern is the shape of recommendation ids the engine may send.
const IDPattern = `^[A-Za-z0-9_.:-]{1,128}$`

var idRE = regexp.MustCompile(IDPattern)

// ValidID reports whether s can be a recommendation (or user) id.
func ValidID(s string) bool { return idRE.MatchString(s) }

// Guardrails are the three automated checks the engine ran.
type Guardrails struct {
	ToneCheck        bool `json:"tone_check"`
	AdviceCheck      bool `json:"advice_check"`
	EligibilityCheck bool `json:"eligibility_check"`
}

// All reports whether every guardrail passed.
func (g Guardrails) All() bool { return g.ToneCheck && g.AdviceCheck && g.EligibilityCheck }

// Recommendation is one AI-generated item under review.
type Recommendation struct {
	ID               string
	UserID           string
	PersonaPrimary   string
	PersonaSecondary *string
	Type             string
	Title            string
	Rationale        string
	Priority         string
	Status           Status
	ContentURL       *string
	ReadTimeMinutes  *int
	Guardrails       Guardrails
	GeneratedAt      time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	ApprovedBy       *string
	ApprovedAt       *time.Time
	RejectedBy       *string
	RejectedAt       *time.Time
	ModifiedBy       *string
	ModifiedAt       *time.Time
	OperatorNotes    *string
	// PreviousStatus and StatusChangedAt describe the last status change;
	// UndoExpiresAt is set while that decision may still be undone.
	PreviousStatus  *Status
	StatusChangedAt *time.Time
	UndoExpiresAt   *time.Time
	Tags            []string
	Version         int64
	DeliveryStatus  *string
	DeliveredAt     *time.Time
	ClaimedBy       *string
	ClaimExpiresAt  *time.Time
	// AuditHead is the hash of the newest audit row about it (its audit
	// chain's head), "" before the first; the store's, not the API's.
	AuditHead string `json:"-"`
}

// HeldByOther reports whether another operator holds a live claim on r.
func (r *Recommendation) HeldByOther(operatorID string, now time.Time) bool {
	return r.ClaimedBy != nil && *r.ClaimedBy != operatorID &&
		r.ClaimExpiresAt != nil && r.ClaimExpiresAt.After(now)
}
