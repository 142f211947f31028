package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

var (
	operator = review.Actor{ID: "op_a", Role: review.RoleOperator}
	senior   = review.Actor{ID: "op_s", Role: review.RoleSenior}
)

// exec runs plain SQL written with ? placeholders, as someone with
// database access (not the API) would.
func exec(t *testing.T, s *store.Store, q string, args ...any) int64 {
	t.Helper()
	if s.Engine == store.Postgres {
		n := 0
		var b strings.Builder
		for _, c := range q {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		q = b.String()
	}
	res, err := s.Write.ExecContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, _ := res.RowsAffected()
	return n
}

// history gives rec_0000 a chain of four rows (modify, flag, resolve,
// with the clock moving), approves or rejects the rest, and returns
// rec_0000's audit ids oldest first.
func history(t *testing.T, s *store.Store, ids []string) []string {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { at = at.Add(1500 * time.Millisecond); return at })
	title := "A better title"
	if _, _, err := s.Modify(ctx, review.ModifyInput{ID: ids[0], Actor: operator, Title: &title}); err != nil {
		t.Fatal(err)
	}
	_, flagID, err := s.Flag(ctx, review.FlagInput{ID: ids[0], Actor: operator, Reason: "unsure"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResolveFlag(ctx, review.ResolveInput{FlagID: flagID, Actor: senior, Resolution: "requeue", Notes: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[0], Actor: operator, Notes: "ok now"}); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids[1:] {
		if i%2 == 0 {
			_, err = s.Approve(ctx, review.ApproveInput{ID: id, Actor: operator, Notes: "fine <&> \u2028 ünïcode"})
		} else {
			_, err = s.Reject(ctx, review.RejectInput{ID: id, Actor: operator, Reason: "no"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	logs, _, _, err := s.ListAudit(ctx, store.AuditFilter{RecommendationID: ids[0], Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 4 {
		t.Fatalf("rec %s has %d audit rows, want 4", ids[0], len(logs))
	}
	out := make([]string, len(logs))
	for i, e := range logs {
		out[len(logs)-1-i] = e.AuditID
	}
	return out
}

func mustVerify(t *testing.T, s *store.Store) auditproof.Report {
	t.Helper()
	rep, err := s.VerifyAudit(context.Background(), auditproof.NewChainVerifier())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantProblem asserts verify fails and that its first problem names want
// (a row id or a subject) and says what (a phrase).
func wantProblem(t *testing.T, s *store.Store, want, what string) {
	t.Helper()
	rep := mustVerify(t, s)
	if rep.OK() {
		t.Fatalf("verify passed after tampering; want a problem naming %s", want)
	}
	if p := rep.Problems[0].String(); !strings.Contains(p, want) || !strings.Contains(p, what) {
		t.Fatalf("first problem %q; want one naming %s and saying %q (all: %v)", p, want, what, rep.Problems)
	}
	vs, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vs {
		found = found || strings.HasPrefix(v.Invariant, "audit hash chains")
	}
	if !found {
		t.Fatalf("check did not report the broken chain: %+v", vs)
	}
}

func TestAuditChainHoldsOverEveryWritePath(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ids := testdb.Fixture(t, s, 30, 0)
		history(t, s, ids[:10])
		res, err := s.BulkApprove(context.Background(), review.BulkApproveInput{Actor: operator, IDs: ids[10:], Notes: "bulk"})
		if err != nil || res.Approved != 20 {
			t.Fatalf("bulk: %+v %v", res, err)
		}
		rep := mustVerify(t, s)
		if !rep.OK() {
			t.Fatalf("verify failed on untouched data: %v", rep.Problems)
		}
		if rep.Rows != 4+9+20 || rep.Subjects != 30 {
			t.Fatalf("verified %d rows of %d subjects, want 33 of 30", rep.Rows, rep.Subjects)
		}
		// (Without a delivery queue here, check also reports the queued
		// deliveries' missing jobs; only the audit invariants matter.)
		vs, err := s.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if strings.Contains(v.Invariant, "audit") {
				t.Fatalf("check: %+v", v)
			}
		}
	})
}

func TestAuditTamperingIsDetected(t *testing.T) {
	kinds := []struct {
		name string
		// tamper changes the database and returns what the first problem
		// must name and say.
		tamper func(t *testing.T, s *store.Store, chain []string) (string, string)
	}{
		{"one field of one row", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			exec(t, s, `UPDATE operator_audit_log SET operator_id = 'mallory' WHERE audit_id = ?`, chain[1])
			return chain[1], "fields do not match its hash"
		}},
		{"metadata of one row", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			q := `UPDATE operator_audit_log SET metadata = '{"reason":"nothing to see"}' WHERE audit_id = ?`
			exec(t, s, q, chain[1])
			return chain[1], "fields do not match its hash"
		}},
		{"a middle row removed", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			exec(t, s, `DELETE FROM operator_audit_log WHERE audit_id = ?`, chain[1])
			return chain[2], "the row before it"
		}},
		{"the newest row removed", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			exec(t, s, `DELETE FROM operator_audit_log WHERE audit_id = ?`, chain[3])
			return "recommendation:rec_0000", "newest row was removed"
		}},
		{"a whole chain removed", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			exec(t, s, `DELETE FROM operator_audit_log WHERE recommendation_id = 'rec_0000'`)
			return "recommendation:rec_0000", "whole chain was removed"
		}},
		{"two rows reordered", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			// Swap what the first two rows say happened (and when).
			exec(t, s, `UPDATE operator_audit_log SET timestamp = (SELECT timestamp FROM operator_audit_log WHERE audit_id = ?) WHERE audit_id = ?`, chain[2], chain[1])
			return chain[1], "fields do not match its hash"
		}},
		{"a row re-hashed after its change", func(t *testing.T, s *store.Store, chain []string) (string, string) {
			// An attacker who knows the format recomputes the changed row's
			// hash: its successor's link breaks instead.
			exec(t, s, `UPDATE operator_audit_log SET operator_id = 'mallory' WHERE audit_id = ?`, chain[1])
			r := readRow(t, s, chain[1])
			h, err := auditproof.Hash(r)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, s, `UPDATE operator_audit_log SET row_hash = ? WHERE audit_id = ?`, h, chain[1])
			return chain[2], "the row before it"
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, s *store.Store) {
				ids := testdb.Fixture(t, s, 6, 0)
				chain := history(t, s, ids)
				if rep := mustVerify(t, s); !rep.OK() {
					t.Fatalf("verify failed before tampering: %v", rep.Problems)
				}
				want, what := k.tamper(t, s, chain)
				wantProblem(t, s, want, what)
			})
		})
	}
}

func readRow(t *testing.T, s *store.Store, id string) auditproof.Row {
	t.Helper()
	var r auditproof.Row
	var meta []byte
	var ts store.Time
	q := `SELECT audit_id, operator_id, action, recommendation_id, metadata, timestamp, prev_hash FROM operator_audit_log WHERE audit_id = ?`
	if s.Engine == store.Postgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	err := s.Read.QueryRowContext(context.Background(), q, id).Scan(&r.AuditID, &r.OperatorID, &r.Action, &r.RecommendationID, &meta, &ts, &r.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	r.Metadata, r.Timestamp = meta, ts.Time
	return r
}

// TestAuditChainsUnderConcurrency approves many items from many goroutines
// at once, with bulk approvals beside them: every chain and head holds.
func TestAuditChainsUnderConcurrency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 400, 0)
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < 200; i += 8 {
					title := fmt.Sprintf("edited %d", i)
					if _, _, err := s.Modify(ctx, review.ModifyInput{ID: ids[i], Actor: operator, Title: &title}); err != nil {
						errs <- err
					}
					if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[i], Actor: operator}); err != nil {
						errs <- err
					}
				}
			}(w)
		}
		for b := 0; b < 2; b++ {
			wg.Add(1)
			go func(b int) {
				defer wg.Done()
				// Overlapping bulk requests: each item is approved once.
				if _, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: operator, IDs: ids[200+b*50 : 350+b*50]}); err != nil {
					errs <- err
				}
			}(b)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rep := mustVerify(t, s)
		if !rep.OK() {
			t.Fatalf("verify after concurrent actions: %v", rep.Problems)
		}
		if rep.Rows != 200*2+200 {
			t.Fatalf("verified %d rows, want 600", rep.Rows)
		}
	})
}

// TestLegacyRowsAreChainedResumably turns a history into rows written
// before the chain existed, chains them in an interrupted run and a
// resumed one, and checks the result verifies.
func TestLegacyRowsAreChainedResumably(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 9, 0)
		history(t, s, ids[:8])
		exec(t, s, `UPDATE operator_audit_log SET prev_hash = NULL, row_hash = NULL`)
		exec(t, s, `UPDATE recommendations SET audit_head = NULL`)
		wantProblem(t, s, "", "never chained")

		n, err := store.ChainLegacyAudit(s, ctx, 3, 1) // interrupted after one batch
		if err != nil || n != 3 {
			t.Fatalf("first batch chained %d rows (%v), want 3", n, err)
		}
		wantProblem(t, s, "", "never chained")
		n, err = store.ChainLegacyAudit(s, ctx, 3, -1)
		if err != nil || n != 11-3 {
			t.Fatalf("resumed run chained %d rows (%v), want 8", n, err)
		}
		if rep := mustVerify(t, s); !rep.OK() || rep.Rows != 11 {
			t.Fatalf("after chaining: %d rows, %v", rep.Rows, rep.Problems)
		}
		// New actions chain as usual beside the chained legacy rows.
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[8], Actor: operator}); err != nil {
			t.Fatal(err)
		}
		if rep := mustVerify(t, s); !rep.OK() {
			t.Fatalf("after a new action: %v", rep.Problems)
		}
	})
}
