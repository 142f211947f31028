package review_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// TestPreconditionCheck: a stale If-Match is a failed precondition, a live
// claim held by someone else a conflict carrying the current status; the
// holder's own claim, an expired claim and a matching or absent If-Match
// pass.
func TestPreconditionCheck(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later, earlier := now.Add(time.Minute), now.Add(-time.Second)
	holder := "op_holder"
	v := func(n int64) *int64 { return &n }
	cases := []struct {
		name    string
		ifMatch *int64
		claimBy *string
		expires *time.Time
		actor   string
		code    review.Code
	}{
		{"no precondition", nil, nil, nil, "op1", ""},
		{"matching version", v(3), nil, nil, "op1", ""},
		{"stale version", v(2), nil, nil, "op1", review.EPrecondition},
		{"claimed by another", nil, &holder, &later, "op1", review.EConflict},
		{"own claim", nil, &holder, &later, holder, ""},
		{"expired claim", nil, &holder, &earlier, "op1", ""},
		{"claim ends at the instant", nil, &holder, &now, "op1", ""},
		{"stale version wins over claim", v(9), &holder, &later, "op1", review.EPrecondition},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &review.Recommendation{ID: "rec_1", Status: review.StatusPending, Version: 3, ClaimedBy: c.claimBy, ClaimExpiresAt: c.expires}
			err := review.Precondition{IfMatch: c.ifMatch}.Check(rec, review.Actor{ID: c.actor, Role: review.RoleOperator}, now)
			if c.code == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if got := review.ErrorCode(err); got != c.code {
				t.Fatalf("code = %q (%v), want %q", got, err, c.code)
			}
			if c.code == review.EConflict {
				var e *review.Error
				if !errors.As(err, &e) || e.CurrentStatus != review.StatusPending {
					t.Fatalf("conflict without current status: %#v", err)
				}
			}
		})
	}
}

// TestCheckTagName: vocabulary names are 1 to 64 lower-case letters,
// digits or _; anything else is invalid.
func TestCheckTagName(t *testing.T) {
	for name, ok := range map[string]bool{
		"needs_legal": true, "a": true, "x9_": true, strings.Repeat("a", 64): true,
		"": false, "Bad Name": false, "UPPER": false, "dash-ed": false, "é": false, strings.Repeat("a", 65): false,
	} {
		err := review.CheckTagName(name)
		if got := err == nil; got != ok {
			t.Errorf("CheckTagName(%q) = %v, want ok=%v", name, err, ok)
		}
		if err != nil && review.ErrorCode(err) != review.EInvalid {
			t.Errorf("CheckTagName(%q) code = %q, want invalid", name, review.ErrorCode(err))
		}
	}
}
