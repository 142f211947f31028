package review_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
)

// TestOperatorNormalizeAndValidate: names and e-mails are trimmed, e-mails
// lower-cased and a blank one dropped; each bad field is EInvalid with a
// message that names it.
func TestOperatorNormalizeAndValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		name string
		op   review.Operator
		want string // "" when valid; otherwise a part of the message
	}{
		{"valid", review.Operator{ID: "op_1", Name: " Ana ", Email: str(" Ana@Bank.Example "), Role: review.RoleOperator}, ""},
		{"blank e-mail is none", review.Operator{ID: "op_1", Name: "Ana", Email: str("  "), Role: review.RoleAdmin}, ""},
		{"bad id", review.Operator{ID: "op 1", Name: "Ana", Role: review.RoleOperator}, `operator id "op 1" is not valid`},
		{"blank name", review.Operator{ID: "op_1", Name: "   ", Role: review.RoleOperator}, "operator name must not be empty"},
		{"long name", review.Operator{ID: "op_1", Name: strings.Repeat("a", 201), Role: review.RoleOperator}, "at most 200 characters"},
		{"bad role", review.Operator{ID: "op_1", Name: "Ana", Role: "boss"}, `role "boss" is not one of`},
		{"bad e-mail", review.Operator{ID: "op_1", Name: "Ana", Email: str("ana.bank.example"), Role: review.RoleOperator}, `email "ana.bank.example" is not valid`},
	} {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Normalize()
			err := op.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if op.Name != strings.TrimSpace(c.op.Name) {
					t.Errorf("name %q not trimmed", op.Name)
				}
				if op.Email != nil && *op.Email != strings.ToLower(strings.TrimSpace(*c.op.Email)) {
					t.Errorf("e-mail %q not normalised", *op.Email)
				}
				if c.op.Email != nil && strings.TrimSpace(*c.op.Email) == "" && op.Email != nil {
					t.Errorf("blank e-mail kept as %q", *op.Email)
				}
				return
			}
			if review.ErrorCode(err) != review.EInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want EInvalid containing %q", err, c.want)
			}
		})
	}
}
