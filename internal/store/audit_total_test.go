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

// TestAuditTotalMatchesRows checks the audit-log total, which comes from
// counters (by operator and action, and by UTC day), against counting the
// rows, for filters with whole days, partial days at either end, open ends,
// less than a day, and no dates.
func TestAuditTotalMatchesRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 60, 0)
		base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		actors := []review.Actor{{ID: "op_a", Role: review.RoleOperator}, {ID: "op_b", Role: review.RoleOperator}}
		// Actions spread over four days at odd hours, by two operators.
		for i, id := range ids {
			at := base.Add(time.Duration(i)*97*time.Minute + 13*time.Second)
			s.SetClock(func() time.Time { return at })
			a := actors[i%2]
			var err error
			switch i % 3 {
			case 0:
				_, err = s.Approve(ctx, review.ApproveInput{ID: id, Actor: a})
			case 1:
				_, err = s.Reject(ctx, review.RejectInput{ID: id, Actor: a, Reason: "no"})
			default:
				_, _, err = s.Flag(ctx, review.FlagInput{ID: id, Actor: a, Reason: "look"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		all, _, _, err := s.ListAudit(ctx, store.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		count := func(f store.AuditFilter) int64 {
			var n int64
			for _, e := range all {
				if (f.OperatorID == "" || e.OperatorID == f.OperatorID) && (f.Action == "" || e.Action == f.Action) &&
					(f.From == nil || !e.Timestamp.Before(*f.From)) && (f.To == nil || e.Timestamp.Before(*f.To)) {
					n++
				}
			}
			return n
		}
		at := func(d time.Duration) *time.Time { v := base.Add(d); return &v }
		day := 24 * time.Hour
		ranges := []struct {
			name     string
			from, to *time.Time
		}{
			{"none", nil, nil},
			{"whole days", at(day), at(3 * day)},
			{"partial both ends", at(day/2 + 7*time.Minute), at(3*day + 5*time.Hour)},
			{"partial start, open end", at(day + time.Hour), nil},
			{"open start, partial end", nil, at(2*day + 90*time.Minute)},
			{"open start, whole end", nil, at(2 * day)},
			{"less than a day", at(day + time.Hour), at(day + 20*time.Hour)},
			{"across one midnight", at(day + 20*time.Hour), at(2*day + 3*time.Hour)},
			{"before everything", at(-5 * day), at(-4 * day)},
		}
		for _, r := range ranges {
			for _, op := range []string{"", "op_a"} {
				for _, action := range []string{"", review.ActionApprove} {
					f := store.AuditFilter{OperatorID: op, Action: action, From: r.from, To: r.to, Limit: 10}
					_, total, _, err := s.ListAudit(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if want := count(f); total != want {
						t.Errorf("%s, operator %q, action %q: total %d, rows %d", r.name, op, action, total, want)
					}
				}
			}
		}
		vs, err := s.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs { // (deliveries without jobs are expected: no delivery enqueuer here)
			if strings.Contains(v.Invariant, "counter") {
				t.Errorf("check: %+v", v)
			}
		}
	})
}
