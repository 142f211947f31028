package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestCheckSeesDayRollupDrift: the day and hour rollups of /analytics and the
// guardrail-failure counter of /alerts follow the data through approvals,
// rejections and an undo, and the checker reports each of them changed
// behind the triggers' back.
func TestCheckSeesDayRollupDrift(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SetUndoWindow(5 * time.Minute)
		testdb.DeliveryQueue(t, s) // approvals insert their delivery jobs, as in an API process
		// ids[2] and ids[5] failed a guardrail; ids[2] is rejected.
		ids := testdb.Fixture(t, s, 6, 3)
		op := review.Actor{ID: "op_1", Role: review.RoleOperator}
		for _, id := range ids[:2] {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: op}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Reject(ctx, review.RejectInput{ID: ids[2], Actor: op, Reason: "off-topic"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Undo(ctx, review.UndoInput{ID: ids[0], Actor: op}); err != nil {
			t.Fatal(err)
		}
		testdb.CheckInvariants(t, s)

		for _, drift := range []string{
			`UPDATE activity_days SET n = n + 1 WHERE action = 'approve'`,
			`UPDATE activity_hours SET n = n - 1 WHERE action = 'reject'`,
			`UPDATE decision_days SET rejected = rejected + 1`,
			`UPDATE pending_guardrail_failures SET n = n + 2`,
		} {
			if _, err := s.Write.ExecContext(ctx, drift); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := s.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vs {
			got = append(got, v.Invariant)
		}
		for _, want := range []string{"activity day rollups match the activity buckets", "activity hour rollups match the activity buckets",
			"decision day rollups match the decision buckets",
			"the guardrail-failure counter matches the pending items"} {
			if !strings.Contains(strings.Join(got, "\n"), want) {
				t.Errorf("check did not report %q; it reported %q", want, got)
			}
		}
	})
}
