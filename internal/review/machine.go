package review

import "strings"

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

// CheckApprove applies the status machine and the guardrail rule to an
// approval of rec. It is the one rule for single, bulk and flag-resolution
// approvals (the seed let bulk and single disagree).
func CheckApprove(rec *Recommendation, a Approval) error {
	if rec.Status != StatusPending {
		return StatusConflict("approve", rec.Status)
	}
	return CheckGuardrails(rec, a)
}

// CheckGuardrails refuses approval of an item whose guardrails failed unless a
// senior operator or admin explicitly overrides it with a written reason.
func CheckGuardrails(rec *Recommendation, a Approval) error {
	if rec.Guardrails.All() {
		return nil
	}
	if !a.Override {
		return &Error{Code: EConflict, CurrentStatus: rec.Status,
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
	if rec.Status != StatusPending {
		return StatusConflict("reject", rec.Status)
	}
	return nil
}

// CheckFlag applies the status machine to a flag.
func CheckFlag(rec *Recommendation) error {
	if rec.Status != StatusPending {
		return StatusConflict("flag", rec.Status)
	}
	return nil
}

// CheckModify allows edits while the item is still under review.
func CheckModify(rec *Recommendation) error {
	if rec.Status != StatusPending && rec.Status != StatusFlagged {
		return StatusConflict("modify", rec.Status)
	}
	return nil
}

// ResolutionTarget is the status a flag resolution moves a flagged item to.
func ResolutionTarget(resolution string) (Status, bool) {
	switch resolution {
	case ResolveApprove:
		return StatusApproved, true
	case ResolveReject:
		return StatusRejected, true
	case ResolveRequeue:
		return StatusPending, true
	}
	return "", false
}

// CheckResolve applies the status machine to a flag resolution. Approving out
// of a flag obeys the same guardrail rule as any approval.
func CheckResolve(rec *Recommendation, resolution string, a Approval) error {
	if rec.Status != StatusFlagged {
		return StatusConflict("resolve a flag on", rec.Status)
	}
	if _, ok := ResolutionTarget(resolution); !ok {
		return Errorf(EInvalid, "resolution must be approve, reject or requeue")
	}
	if resolution == ResolveApprove {
		return CheckGuardrails(rec, a)
	}
	return nil
}
