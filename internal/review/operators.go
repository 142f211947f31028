package review

import (
	"strings"
	"time"
)

// Operator is a person (or, with role ingest, a service account) who may
// call the API. The password hash is deliberately not part of it: only the
// store's credential lookup returns that, for checking a login.
type Operator struct {
	ID          string
	Name        string
	Email       *string
	Role        Role
	Disabled    bool
	CreatedAt   time.Time
	LastLoginAt *time.Time
	// TokenEpoch counts password changes; tokens issued before the last
	// one carry a smaller count and are refused.
	TokenEpoch int64
}

// Normalize trims the name and normalises the e-mail (NormalizeEmail).
func (op *Operator) Normalize() {
	op.Name = strings.TrimSpace(op.Name)
	op.Email = NormalizeEmail(op.Email)
}

// Validate checks a normalised operator's id, name, role and e-mail.
func (op *Operator) Validate() error {
	switch {
	case !ValidID(op.ID):
		return Errorf(EInvalid, "operator id %q is not valid: use 1 to 128 letters, digits or _ . : -", op.ID)
	case op.Name == "":
		return Errorf(EInvalid, "operator name must not be empty")
	case len(op.Name) > 200:
		return Errorf(EInvalid, "operator name must be at most 200 characters")
	case !ValidRole(string(op.Role)):
		return Errorf(EInvalid, "role %q is not one of %s", op.Role, strings.Join(Roles, ", "))
	case op.Email != nil && !validEmail(*op.Email):
		return Errorf(EInvalid, "email %q is not valid", *op.Email)
	}
	return nil
}

// NormalizeEmail trims and lower-cases an e-mail; nil or blank means none.
// E-mails are stored lower-cased, so that the unique index on them is
// case-insensitive in effect and a login may use any case.
func NormalizeEmail(e *string) *string {
	if e == nil {
		return nil
	}
	v := strings.ToLower(strings.TrimSpace(*e))
	if v == "" {
		return nil
	}
	return &v
}

func validEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && domain != "" && len(e) <= 320 && !strings.ContainsAny(e, " \t\r\n")
}
