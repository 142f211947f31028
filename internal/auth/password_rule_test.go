package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/auth"
)

func TestPasswordRule(t *testing.T) {
	for _, tc := range []struct {
		pw, id, email string
		want          error
	}{
		{"correct horse battery", "op_1", "a@b.example", nil},
		{"päßwörd-äöü-ß", "op_1", "", nil}, // 13 characters, more bytes
		{"x", "op_1", "", auth.ErrPasswordTooShort},
		{"elevenchars", "op_1", "", auth.ErrPasswordTooShort},
		{"", "op_1", "", auth.ErrEmptyPassword},
		{"   ", "op_1", "", auth.ErrPasswordBlank},
		{strings.Repeat(" \t", 8), "op_1", "", auth.ErrPasswordBlank},
		{"operator_long_id", "operator_long_id", "", auth.ErrPasswordIsAccount},
		{"OPERATOR_LONG_ID", "operator_long_id", "", auth.ErrPasswordIsAccount},
		{"alice@bank.example", "alice", "Alice@Bank.example", auth.ErrPasswordIsAccount},
		{strings.Repeat("a", auth.MaxPasswordBytes+1), "op_1", "", auth.ErrPasswordTooLong},
	} {
		if err := auth.PasswordRule(tc.pw, tc.id, tc.email); !errors.Is(err, tc.want) {
			t.Errorf("PasswordRule(%q, %q, %q) = %v, want %v", tc.pw, tc.id, tc.email, err, tc.want)
		}
	}
}

// A token carries the epoch it was issued at; Verify returns it.
func TestTokenEpoch(t *testing.T) {
	iss, err := auth.NewIssuer([]byte(strings.Repeat("k", 32)), 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.IssueFor("op_1", "operator", 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Verify(tok)
	if err != nil || c.Epoch != 3 || c.Expiry().Sub(c.IssuedAt.Time) != auth.DefaultTTL {
		t.Fatalf("Verify = %+v, %v; want epoch 3 and the default lifetime", c, err)
	}
}
