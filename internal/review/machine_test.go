package review_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
)

var (
	allPass = review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: true}
	oneFail = review.Guardrails{ToneCheck: true, AdviceCheck: false, EligibilityCheck: true}
)

func rec(status review.Status, g review.Guardrails) *review.Recommendation {
	return &review.Recommendation{ID: "rec_1", Status: status, Guardrails: g}
}

// outcome is what a check answered: "ok" or the error's code.
func outcome(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return "ok"
	}
	var e *review.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not a *review.Error", err, err)
	}
	if e.Message == "" {
		t.Fatalf("error %v has no message", err)
	}
	return string(e.Code)
}

// TestStatusMachine is the contract's status machine, every status against
// every action:
//
//	pending ──approve──> approved      (terminal)
//	pending ──reject───> rejected      (terminal)
//	pending ──flag─────> flagged ──resolve(approve|reject|requeue)──> approved|rejected|pending
//	modify: allowed while pending or flagged; status unchanged
func TestStatusMachine(t *testing.T) {
	const ok, conflict = "ok", string(review.EConflict)
	approve := func(r *review.Recommendation) error {
		return review.CheckApprove(r, review.Approval{Role: review.RoleOperator})
	}
	resolve := func(res string) func(r *review.Recommendation) error {
		return func(r *review.Recommendation) error {
			return review.CheckResolve(r, res, review.Approval{Role: review.RoleSenior, Notes: "n"})
		}
	}
	actions := []struct {
		name  string
		check func(*review.Recommendation) error
	}{
		{"approve", approve},
		{"reject", review.CheckReject},
		{"flag", review.CheckFlag},
		{"modify", review.CheckModify},
		{"resolve approve", resolve(review.ResolveApprove)},
		{"resolve reject", resolve(review.ResolveReject)},
		{"resolve requeue", resolve(review.ResolveRequeue)},
	}
	want := map[review.Status][]string{
		//                       approve   reject    flag      modify    res-appr  res-rej   res-requeue
		review.StatusPending:  {ok, ok, ok, ok, conflict, conflict, conflict},
		review.StatusFlagged:  {conflict, conflict, conflict, ok, ok, ok, ok},
		review.StatusApproved: {conflict, conflict, conflict, conflict, conflict, conflict, conflict},
		review.StatusRejected: {conflict, conflict, conflict, conflict, conflict, conflict, conflict},
		// Statuses the product does not have (the seed's invention among
		// them) allow nothing.
		"queued_for_delivery": {conflict, conflict, conflict, conflict, conflict, conflict, conflict},
		"":                    {conflict, conflict, conflict, conflict, conflict, conflict, conflict},
	}
	for status, outcomes := range want {
		for i, a := range actions {
			t.Run(string(status)+"/"+a.name, func(t *testing.T) {
				err := a.check(rec(status, allPass))
				if got := outcome(t, err); got != outcomes[i] {
					t.Fatalf("%s from %q: %s, want %s (%v)", a.name, status, got, outcomes[i], err)
				}
				if err != nil {
					var e *review.Error
					errors.As(err, &e)
					if e.CurrentStatus != status {
						t.Errorf("409 names current status %q, want %q", e.CurrentStatus, status)
					}
					if status != "" && !strings.Contains(e.Message, string(status)) {
						t.Errorf("message %q does not name the status %q", e.Message, status)
					}
				}
			})
		}
	}
}

// TestResolutionTarget: where each resolution moves a flagged item.
func TestResolutionTarget(t *testing.T) {
	for res, want := range map[string]review.Status{
		review.ResolveApprove: review.StatusApproved,
		review.ResolveReject:  review.StatusRejected,
		review.ResolveRequeue: review.StatusPending,
	} {
		if got, ok := review.ResolutionTarget(res); !ok || got != want {
			t.Errorf("ResolutionTarget(%q) = %q, %v; want %q", res, got, ok, want)
		}
	}
	for _, bad := range []string{"", "Approve", "approved", "maybe", "approve "} {
		if got, ok := review.ResolutionTarget(bad); ok || got != "" {
			t.Errorf("ResolutionTarget(%q) = %q, %v", bad, got, ok)
		}
		err := review.CheckResolve(rec(review.StatusFlagged, allPass), bad, review.Approval{Role: review.RoleAdmin, Notes: "n"})
		if got := outcome(t, err); got != string(review.EInvalid) {
			t.Errorf("CheckResolve(%q) = %s, want invalid", bad, got)
		}
	}
}

// TestGuardrailRule: approving an item whose guardrails did not all pass
// needs a senior_operator or admin, override_guardrails and notes; the same
// rule holds for approval out of a flag.
func TestGuardrailRule(t *testing.T) {
	cases := []struct {
		name  string
		g     review.Guardrails
		a     review.Approval
		want  review.Code // "" for allowed
		wantC review.Status
	}{
		{"passed, operator", allPass, review.Approval{Role: review.RoleOperator}, "", ""},
		{"passed, override ignored", allPass, review.Approval{Role: review.RoleOperator, Override: true}, "", ""},
		{"failed, no override", oneFail, review.Approval{Role: review.RoleAdmin, Notes: "n"}, review.EConflict, review.StatusPending},
		{"failed, operator overrides", oneFail, review.Approval{Role: review.RoleOperator, Override: true, Notes: "n"}, review.EForbidden, ""},
		{"failed, ingest overrides", oneFail, review.Approval{Role: review.RoleIngest, Override: true, Notes: "n"}, review.EForbidden, ""},
		{"failed, unknown role overrides", oneFail, review.Approval{Role: "root", Override: true, Notes: "n"}, review.EForbidden, ""},
		{"failed, senior without notes", oneFail, review.Approval{Role: review.RoleSenior, Override: true}, review.EInvalid, ""},
		{"failed, senior blank notes", oneFail, review.Approval{Role: review.RoleSenior, Override: true, Notes: " \t\n"}, review.EInvalid, ""},
		{"failed, senior with notes", oneFail, review.Approval{Role: review.RoleSenior, Override: true, Notes: "compliance ok"}, "", ""},
		{"failed, admin with notes", oneFail, review.Approval{Role: review.RoleAdmin, Override: true, Notes: "ok"}, "", ""},
		{"tone failed", review.Guardrails{AdviceCheck: true, EligibilityCheck: true}, review.Approval{Role: review.RoleOperator}, review.EConflict, review.StatusPending},
		{"eligibility failed", review.Guardrails{ToneCheck: true, AdviceCheck: true}, review.Approval{Role: review.RoleOperator}, review.EConflict, review.StatusPending},
		{"all failed", review.Guardrails{}, review.Approval{Role: review.RoleOperator}, review.EConflict, review.StatusPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := review.CheckApprove(rec(review.StatusPending, c.g), c.a)
			got := outcome(t, err)
			want := "ok"
			if c.want != "" {
				want = string(c.want)
			}
			if got != want {
				t.Fatalf("CheckApprove = %s, want %s (%v)", got, want, err)
			}
			if c.want == review.EConflict {
				var e *review.Error
				errors.As(err, &e)
				if e.CurrentStatus != c.wantC || !strings.HasPrefix(e.Message, "guardrails_failed") {
					t.Errorf("guardrail conflict: current %q, message %q", e.CurrentStatus, e.Message)
				}
			}
			// Resolving a flag by approval obeys the same rule.
			rerr := review.CheckResolve(rec(review.StatusFlagged, c.g), review.ResolveApprove, c.a)
			rgot := outcome(t, rerr)
			if rgot != want {
				t.Fatalf("CheckResolve(approve) = %s, want %s (%v)", rgot, want, rerr)
			}
			// Rejecting or requeueing does not look at guardrails.
			for _, res := range []string{review.ResolveReject, review.ResolveRequeue} {
				if err := review.CheckResolve(rec(review.StatusFlagged, c.g), res, c.a); err != nil {
					t.Errorf("CheckResolve(%s) = %v", res, err)
				}
			}
		})
	}
	for _, r := range review.Roles {
		want := r == string(review.RoleSenior) || r == string(review.RoleAdmin)
		if got := review.Role(r).CanOverrideGuardrails(); got != want {
			t.Errorf("%s.CanOverrideGuardrails() = %v", r, got)
		}
	}
}

// FuzzStatusMachine checks the machine's invariants over arbitrary
// statuses, roles, notes, resolutions and guardrail results. The seed
// corpus is in testdata/fuzz/FuzzStatusMachine.
func FuzzStatusMachine(f *testing.F) {
	f.Add("pending", "operator", "", false, true, true, true, "approve")
	f.Add("pending", "senior_operator", "checked", true, true, false, true, "approve")
	f.Add("flagged", "admin", "", true, false, false, false, "reject")
	f.Add("approved", "operator", "n", false, true, true, true, "requeue")
	f.Add("rejected", "ingest", " ", true, true, true, false, "maybe")
	f.Add("queued_for_delivery", "root", "x", true, true, true, true, "")
	f.Fuzz(func(t *testing.T, status, role, notes string, override, tone, advice, eligibility bool, resolution string) {
		g := review.Guardrails{ToneCheck: tone, AdviceCheck: advice, EligibilityCheck: eligibility}
		r := rec(review.Status(status), g)
		a := review.Approval{Role: review.Role(role), Notes: notes, Override: override}
		mayOverride := (role == "senior_operator" || role == "admin") && override && strings.TrimSpace(notes) != ""
		guardOK := g.All() || mayOverride
		known := false
		for _, s := range review.Statuses {
			known = known || s == status
		}

		code := func(err error) review.Code {
			if err == nil {
				return ""
			}
			var e *review.Error
			if !errors.As(err, &e) || e.Message == "" {
				t.Fatalf("error %T %v is not a domain error with a message", err, err)
			}
			if e.Code == review.EConflict && e.CurrentStatus != r.Status {
				t.Fatalf("conflict names %q, item is %q", e.CurrentStatus, r.Status)
			}
			return e.Code
		}

		// Only pending can be approved, rejected or flagged; approval also
		// needs the guardrails or a senior override with notes.
		approveErr := review.CheckApprove(r, a)
		if (approveErr == nil) != (status == "pending" && guardOK) {
			t.Fatalf("CheckApprove(%q, %+v, %+v) = %v", status, g, a, approveErr)
		}
		if status != "pending" && code(approveErr) != review.EConflict {
			t.Fatalf("approve from %q: %v, want a conflict", status, approveErr)
		}
		if status == "pending" && !g.All() && override && role != "senior_operator" && role != "admin" && code(approveErr) != review.EForbidden {
			t.Fatalf("override by %q: %v, want forbidden", role, approveErr)
		}
		if (review.CheckReject(r) == nil) != (status == "pending") || (review.CheckFlag(r) == nil) != (status == "pending") {
			t.Fatalf("reject/flag from %q disagree with the machine", status)
		}
		// Edits only while under review.
		if (review.CheckModify(r) == nil) != (status == "pending" || status == "flagged") {
			t.Fatalf("modify from %q disagrees with the machine", status)
		}
		// Resolution only of a flagged item, to a known target, approval
		// under the guardrail rule.
		target, validRes := review.ResolutionTarget(resolution)
		resolveErr := review.CheckResolve(r, resolution, a)
		wantResolve := status == "flagged" && validRes && (resolution != review.ResolveApprove || guardOK)
		if (resolveErr == nil) != wantResolve {
			t.Fatalf("CheckResolve(%q, %q, %+v, %+v) = %v", status, resolution, g, a, resolveErr)
		}
		_ = code(resolveErr)
		if resolveErr == nil && !known {
			t.Fatalf("resolved an item in unknown status %q", status)
		}
		if validRes && target != review.StatusApproved && target != review.StatusRejected && target != review.StatusPending {
			t.Fatalf("resolution %q targets %q", resolution, target)
		}
		// Terminal states allow nothing at all.
		if status == "approved" || status == "rejected" {
			for _, err := range []error{approveErr, review.CheckReject(r), review.CheckFlag(r), review.CheckModify(r), resolveErr} {
				if code(err) != review.EConflict {
					t.Fatalf("%q is terminal but a check answered %v", status, err)
				}
			}
		}
	})
}
