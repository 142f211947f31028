package review

import (
	"strings"
	"time"
)

// Role is what an operator may do.
type Role string

const (
	RoleOperator Role = "operator"
	RoleSenior   Role = "senior_operator"
	RoleAdmin    Role = "admin"
	RoleIngest   Role = "ingest"
)

// Roles lists every role.
var Roles = []string{string(RoleOperator), string(RoleSenior), string(RoleAdmin), string(RoleIngest)}

// ValidRole reports whether r names a role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// CanOverrideGuardrails reports whether the role may approve past failed guardrails.
func (r Role) CanOverrideGuardrails() bool { return r == RoleSenior || r == RoleAdmin }

// Approval is what an approve request asks for.
type Approval struct {
	Role     Role
	Notes    string
	Override bool
}

// Edge is one move of the status machine.
type Edge string

const (
	EdgeApprove        Edge = "approve"
	EdgeReject         Edge = "reject"
	EdgeFlag           Edge = "flag"
	EdgeModify         Edge = "modify"
	EdgeResolveApprove Edge = "resolve_approve"
	EdgeResolveReject  Edge = "resolve_reject"
	EdgeResolveRequeue Edge = "resolve_requeue"
	EdgeUndo           Edge = "undo"
)

// StatusBefore is the target of an undo: whatever status the item had
// before the decision being undone (its previous_status).
const StatusBefore Status = "(previous)"

// transition is one row of the machine.
type transition struct {
	verb string   // how a 409 names the action: "cannot <verb> a recommendation that is …"
	from []Status // the statuses the edge leaves from
	to   Status   // "" keeps the status (modify); StatusBefore restores it (undo)
	// decision edges open an undo window: the operator who made the
	// decision, or a senior, may take it back for a while.
	decision bool
}

// machine is the contract's status machine, undo included, in one table:
//
//	pending ──approve──> approved      (terminal)
//	pending ──reject───> rejected      (terminal)
//	pending ──flag─────> flagged ──resolve(approve|reject|requeue)──> approved|rejected|pending
//	modify: allowed while pending or flagged; status unchanged
//	undo:   approved|rejected|flagged ──undo──> the status it had before
//
// Undo also leaves from pending, which only a requeueing flag resolution
// can have produced with an undo window still open (see CheckUndo).
var machine = map[Edge]transition{
	EdgeApprove:        {verb: "approve", from: []Status{StatusPending}, to: StatusApproved, decision: true},
	EdgeReject:         {verb: "reject", from: []Status{StatusPending}, to: StatusRejected, decision: true},
	EdgeFlag:           {verb: "flag", from: []Status{StatusPending}, to: StatusFlagged, decision: true},
	EdgeModify:         {verb: "modify", from: []Status{StatusPending, StatusFlagged}},
	EdgeResolveApprove: {verb: "resolve a flag on", from: []Status{StatusFlagged}, to: StatusApproved, decision: true},
	EdgeResolveReject:  {verb: "resolve a flag on", from: []Status{StatusFlagged}, to: StatusRejected, decision: true},
	EdgeResolveRequeue: {verb: "resolve a flag on", from: []Status{StatusFlagged}, to: StatusPending, decision: true},
	EdgeUndo:           {verb: "undo a decision on", from: []Status{StatusApproved, StatusRejected, StatusFlagged, StatusPending}, to: StatusBefore},
}

// Next is where edge e takes rec, or the 409 naming its current status.
// For undo it is rec's previous status (the undo window is CheckUndo's).
func Next(e Edge, rec *Recommendation) (Status, error) {
	t, ok := machine[e]
	if !ok {
		return "", Errorf(EInternal, "unknown edge %q", e)
	}
	allowed := false
	for _, s := range t.from {
		allowed = allowed || s == rec.Status
	}
	if !allowed {
		return "", StatusConflict(t.verb, rec.Status)
	}
	switch t.to {
	case "":
		return rec.Status, nil
	case StatusBefore:
		if rec.PreviousStatus == nil || *rec.PreviousStatus == "" {
			return "", &Error{Code: EConflict, CurrentStatus: rec.Status, Message: "there is no decision to undo on this recommendation"}
		}
		return *rec.PreviousStatus, nil
	}
	return t.to, nil
}

// IsDecision reports whether e opens an undo window.
func IsDecision(e Edge) bool { return machine[e].decision }

// ResolutionEdge is the edge a flag resolution takes.
func ResolutionEdge(resolution string) (Edge, bool) {
	switch resolution {
	case ResolveApprove:
		return EdgeResolveApprove, true
	case ResolveReject:
		return EdgeResolveReject, true
	case ResolveRequeue:
		return EdgeResolveRequeue, true
	}
	return "", false
}

// Check applies the machine and, for edges that approve, the guardrail rule:
// the one check every write path (single, bulk, flag resolution, undo)
// makes before it changes a recommendation.
func Check(e Edge, rec *Recommendation, a Approval) (Status, error) {
	to, err := Next(e, rec)
	if err != nil {
		return "", err
	}
	if e != EdgeUndo && to == StatusApproved {
		if err := CheckGuardrails(rec, a); err != nil {
			return "", err
		}
	}
	return to, nil
}

// CheckApprove applies the status machine and the guardrail rule to an
// approval of rec. It is the one rule for single, bulk and flag-resolution
// approvals (the seed let bulk and single disagree).
func CheckApprove(rec *Recommendation, a Approval) error {
	_, err := Check(EdgeApprove, rec, a)
	return err
}

// CheckGuardrails refuses approval of an item whose guardrails failed unless a
// senior operator or admin explicitly overrides it with a written reason.
func CheckGuardrails(rec *Recommendation, a Approval) error {
	if rec.Guardrails.All() {
		return nil
	}
	if !a.Override {
		return &Error{Code: EConflict, CurrentStatus: rec.Status, Reason: ReasonGuardrailsFailed,
			Message: "guardrails_failed: this recommendation failed a guardrail check; a senior operator may approve it with override_guardrails and notes"}
	}
	if !a.Role.CanOverrideGuardrails() {
		return Errorf(EForbidden, "only a senior_operator or admin may override failed guardrails")
	}
	if strings.TrimSpace(a.Notes) == "" {
		return Errorf(EInvalid, "notes are required to override failed guardrails")
	}
	return nil
}

// CheckReject applies the status machine to a rejection.
func CheckReject(rec *Recommendation) error {
	_, err := Next(EdgeReject, rec)
	return err
}

// CheckFlag applies the status machine to a flag.
func CheckFlag(rec *Recommendation) error {
	_, err := Next(EdgeFlag, rec)
	return err
}

// CheckModify allows edits while the item is still under review.
func CheckModify(rec *Recommendation) error {
	_, err := Next(EdgeModify, rec)
	return err
}

// ResolutionTarget is the status a flag resolution moves a flagged item to.
func ResolutionTarget(resolution string) (Status, bool) {
	e, ok := ResolutionEdge(resolution)
	if !ok {
		return "", false
	}
	return machine[e].to, true
}

// CheckResolve applies the status machine to a flag resolution. Approving out
// of a flag obeys the same guardrail rule as any approval.
func CheckResolve(rec *Recommendation, resolution string, a Approval) error {
	if rec.Status != StatusFlagged {
		return StatusConflict(machine[EdgeResolveApprove].verb, rec.Status)
	}
	e, ok := ResolutionEdge(resolution)
	if !ok {
		return Errorf(EInvalid, "resolution must be approve, reject or requeue")
	}
	_, err := Check(e, rec, a)
	return err
}

// CheckUndo decides whether actor may undo the last decision on rec, made
// by decidedBy: within the undo window, by the operator who made it or a
// senior_operator/admin, once. It returns the status the item goes back to.
func CheckUndo(rec *Recommendation, actorID string, role Role, decidedBy string, now time.Time) (Status, error) {
	if rec.UndoExpiresAt == nil {
		return "", &Error{Code: EConflict, CurrentStatus: rec.Status,
			Message: "there is nothing to undo: the last decision on this recommendation was already undone, or undo is off"}
	}
	if !now.Before(*rec.UndoExpiresAt) {
		return "", &Error{Code: EConflict, CurrentStatus: rec.Status,
			Message: "the undo window closed at " + rec.UndoExpiresAt.UTC().Format(time.RFC3339)}
	}
	if decidedBy != actorID && !role.CanOverrideGuardrails() {
		return "", Errorf(EForbidden, "only the operator who made this decision (%s), a senior_operator or an admin may undo it", decidedBy)
	}
	return Next(EdgeUndo, rec)
}
