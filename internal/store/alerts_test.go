package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestAlertsFireAndClear drives each alert's condition on a fixed clock and
// checks it appears (with its stable id, count and start) and goes away.
func TestAlertsFireAndClear(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		now := t0
		s.SetClock(func() time.Time { return now })
		at := func(d time.Duration) { now = t0.Add(d) }
		// 14 items entering the queue at t0; 3, 7 and 11 failed a guardrail.
		ids := testdb.Fixture(t, s, 14, 4)
		th := store.AlertThresholds{QueuePending: 5, QueueAge: 2 * time.Hour, RejectionRate: 50, RejectionMinDecisions: 4,
			GuardrailFailures: 2, FlagAgeMedium: time.Hour, FlagAgeHigh: 3 * time.Hour, FastApprovalsPerMinute: 3}
		alerts := func() map[string]store.Alert {
			t.Helper()
			list, err := s.Alerts(ctx, th)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]store.Alert{}
			for _, a := range list {
				if _, dup := m[a.ID]; dup {
					t.Fatalf("duplicate alert id %s", a.ID)
				}
				m[a.ID] = a
			}
			return m
		}
		expect := func(step string, got map[string]store.Alert, ids ...string) {
			t.Helper()
			if len(got) != len(ids) {
				t.Errorf("%s: alerts %v, want exactly %v", step, got, ids)
			}
			for _, id := range ids {
				if _, ok := got[id]; !ok {
					t.Errorf("%s: no %s in %v", step, id, got)
				}
			}
		}
		opA := review.Actor{ID: "op_a", Role: review.RoleOperator}
		opB := review.Actor{ID: "op_b", Role: review.RoleOperator}
		senior := review.Actor{ID: "op_s", Role: review.RoleSenior}

		// 14 pending > 5, and 3 pending failures >= 2.
		got := alerts()
		expect("start", got, "long_queue:queue", "guardrail_failures:pending")
		if a := got["long_queue:queue"]; a.Count != 14 || !a.CreatedAt.Equal(t0) || a.Severity != "high" || a.ActionURL != "/?status=pending" {
			t.Errorf("long_queue: %+v", a)
		}
		if a := got["guardrail_failures:pending"]; a.Count != 3 || !a.CreatedAt.Equal(t0) || a.Severity != "medium" {
			t.Errorf("guardrail_failures: %+v", a)
		}

		// Within the first minute: op_b approves 4 one by one (4 a minute),
		// op_a bulk-approves 2 (not single clicks) and rejects the 3
		// failures and 3 more: 6 of 12 decisions are rejections.
		at(10 * time.Second)
		for _, id := range []string{ids[0], ids[1], ids[2], ids[4]} {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: opB}); err != nil {
				t.Fatal(err)
			}
		}
		at(20 * time.Second)
		if res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: opA, IDs: []string{ids[5], ids[6]}}); err != nil || res.Approved != 2 {
			t.Fatal(res, err)
		}
		for _, id := range []string{ids[3], ids[7], ids[11], ids[8], ids[9], ids[10]} {
			if _, err := s.Reject(ctx, review.RejectInput{ID: id, Actor: opA, Reason: "no"}); err != nil {
				t.Fatal(err)
			}
		}
		at(40 * time.Second)
		_, flagID, err := s.Flag(ctx, review.FlagInput{ID: ids[12], Actor: opA, Reason: "look"})
		if err != nil {
			t.Fatal(err)
		}
		got = alerts()
		expect("after the burst", got, "high_rejection_rate:last_hour", "unusual_pattern:op_b", "flagged_item:open_flags")
		if a := got["high_rejection_rate:last_hour"]; a.Count != 6 || !a.CreatedAt.Equal(t0) {
			t.Errorf("high_rejection_rate: %+v", a)
		}
		if a := got["unusual_pattern:op_b"]; a.Count != 4 || !a.CreatedAt.Equal(t0) || a.ActionURL != "/audit-logs?operator_id=op_b" {
			t.Errorf("unusual_pattern: %+v", a)
		}
		if a := got["flagged_item:open_flags"]; a.Count != 1 || a.Severity != "low" || !a.CreatedAt.Equal(t0.Add(40*time.Second)) {
			t.Errorf("flagged_item: %+v", a)
		}

		// 20 minutes on, op_b's fast minute is past the 15-minute window.
		at(20 * time.Minute)
		expect("20 minutes later", alerts(), "high_rejection_rate:last_hour", "flagged_item:open_flags")
		at(2*time.Hour + 20*time.Minute)
		got = alerts()
		// The decisions left the last hour; the one pending item (ids[13])
		// has waited longer than 2 h since 2h.
		expect("two hours later", got, "long_queue:queue", "flagged_item:open_flags")
		if a := got["long_queue:queue"]; a.Count != 1 || !a.CreatedAt.Equal(t0.Add(2*time.Hour)) || a.Severity != "medium" {
			t.Errorf("long_queue by age: %+v", a)
		}
		if a := got["flagged_item:open_flags"]; a.Severity != "medium" {
			t.Errorf("flagged_item at 2h: %+v", a)
		}
		at(4 * time.Hour)
		if a := alerts()["flagged_item:open_flags"]; a.Severity != "high" {
			t.Errorf("flagged_item at 4h: %+v", a)
		}
		if _, _, err := s.ResolveFlag(ctx, review.ResolveInput{FlagID: flagID, Actor: senior, Resolution: "reject", Notes: "off"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[13], Actor: opA}); err != nil {
			t.Fatal(err)
		}
		expect("all decided", alerts())
	})
}
