package review_test

import (
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// TestUndoEdge: undo goes back to previous_status, within the window, by
// the decision's author or a senior/admin, and from no status the machine
// cannot reach by a decision.
func TestUndoEdge(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later, earlier := now.Add(time.Minute), now.Add(-time.Second)
	st := func(s review.Status) *review.Status { return &s }
	cases := []struct {
		name           string
		status         review.Status
		prev           *review.Status
		expires        *time.Time
		actor, decider string
		role           review.Role
		want           review.Status
		code           review.Code
	}{
		{"author undoes approval", review.StatusApproved, st(review.StatusPending), &later, "op1", "op1", review.RoleOperator, review.StatusPending, ""},
		{"author undoes reject", review.StatusRejected, st(review.StatusPending), &later, "op1", "op1", review.RoleOperator, review.StatusPending, ""},
		{"author undoes flag", review.StatusFlagged, st(review.StatusPending), &later, "op1", "op1", review.RoleOperator, review.StatusPending, ""},
		{"senior undoes resolution", review.StatusApproved, st(review.StatusFlagged), &later, "sen", "op1", review.RoleSenior, review.StatusFlagged, ""},
		{"admin undoes requeue", review.StatusPending, st(review.StatusFlagged), &later, "adm", "sen", review.RoleAdmin, review.StatusFlagged, ""},
		{"another operator", review.StatusApproved, st(review.StatusPending), &later, "op2", "op1", review.RoleOperator, "", review.EForbidden},
		{"window closed", review.StatusApproved, st(review.StatusPending), &earlier, "op1", "op1", review.RoleOperator, "", review.EConflict},
		{"window closes at the instant", review.StatusApproved, st(review.StatusPending), &now, "op1", "op1", review.RoleOperator, "", review.EConflict},
		{"already undone / undo off", review.StatusPending, st(review.StatusApproved), nil, "op1", "op1", review.RoleAdmin, "", review.EConflict},
		{"no previous status", review.StatusApproved, nil, &later, "op1", "op1", review.RoleOperator, "", review.EConflict},
		{"unknown status", "queued_for_delivery", st(review.StatusPending), &later, "op1", "op1", review.RoleAdmin, "", review.EConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &review.Recommendation{ID: "r", Status: c.status, PreviousStatus: c.prev, UndoExpiresAt: c.expires}
			got, err := review.CheckUndo(r, c.actor, c.role, c.decider, now)
			if c.code == "" {
				if err != nil || got != c.want {
					t.Fatalf("CheckUndo = %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if review.ErrorCode(err) != c.code {
				t.Fatalf("CheckUndo error %v, want code %s", err, c.code)
			}
		})
	}
	// Decisions open an undo window; edits and undo itself do not.
	for e, want := range map[review.Edge]bool{review.EdgeApprove: true, review.EdgeReject: true, review.EdgeFlag: true,
		review.EdgeResolveApprove: true, review.EdgeResolveReject: true, review.EdgeResolveRequeue: true,
		review.EdgeModify: false, review.EdgeUndo: false} {
		if got := review.IsDecision(e); got != want {
			t.Errorf("IsDecision(%s) = %v", e, got)
		}
	}
}
