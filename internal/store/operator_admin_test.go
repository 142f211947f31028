package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// adminRows returns the audit rows about no recommendation (operator
// administration), oldest first, as "actor action target".
func adminRows(t *testing.T, s *store.Store) []string {
	t.Helper()
	rows, err := s.Read.Query(`SELECT operator_id, action, metadata FROM operator_audit_log WHERE recommendation_id IS NULL ORDER BY audit_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var by, action string
		var meta []byte
		if err := rows.Scan(&by, &action, &meta); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(meta, &m); err != nil {
			t.Fatal(err)
		}
		target, _ := m["target_operator_id"].(string)
		out = append(out, by+" "+action+" "+target)
	}
	return out
}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("audit rows = %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("audit rows = %q, want %q", got, want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// Every administrative change is one audit row, written with the change;
// a change that changes nothing writes none; a failed change writes none.
func TestOperatorAdminAudited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.AddOperator(ctx, "boss", review.Operator{ID: "boss", Name: "Boss", Role: review.RoleAdmin}, "h"); err != nil {
			t.Fatal(err)
		}
		op, err := s.AddOperator(ctx, store.CLIActor, review.Operator{ID: "op_1", Name: "One", Email: strp("One@Bank.example"), Role: review.RoleOperator}, "h")
		if err != nil || op.Disabled || *op.Email != "one@bank.example" || op.CreatedAt.IsZero() {
			t.Fatalf("AddOperator = %+v, %v", op, err)
		}
		wantRows(t, adminRows(t, s), "boss operator_add boss", "cli operator_add op_1")

		// Disable, enable, role: one row each; the same again: none.
		for _, ch := range []review.OperatorChange{
			{Enabled: ptrTo(false)}, {Enabled: ptrTo(false)},
			{Enabled: ptrTo(true)}, {Enabled: ptrTo(true)},
			{Role: ptrTo(review.RoleSenior)}, {Role: ptrTo(review.RoleSenior)},
			{Name: ptrTo("  One Senior "), Email: ptrTo("")},
		} {
			if _, err := s.UpdateOperator(ctx, "boss", "op_1", ch); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetOperator(ctx, "op_1")
		if err != nil || got.Disabled || got.Role != review.RoleSenior || got.Name != "One Senior" || got.Email != nil || got.TokenEpoch != 1 {
			t.Fatalf("after the changes: %+v, %v", got, err)
		}
		wantRows(t, adminRows(t, s), "boss operator_add boss", "cli operator_add op_1",
			"boss operator_disable op_1", "boss operator_enable op_1", "boss operator_role op_1", "boss operator_edit op_1")

		// Refused changes write nothing.
		_, err = s.UpdateOperator(ctx, "boss", "nobody", review.OperatorChange{Enabled: ptrTo(false)})
		wantCode(t, err, review.ENotFound)
		_, err = s.UpdateOperator(ctx, "boss", "op_1", review.OperatorChange{Role: ptrTo(review.Role("root"))})
		wantCode(t, err, review.EInvalid)
		_, err = s.UpdateOperator(ctx, "boss", "op_1", review.OperatorChange{Name: ptrTo("   ")})
		wantCode(t, err, review.EInvalid)
		if _, err := s.AddOperator(ctx, "boss", review.Operator{ID: "op_2", Name: "Two", Email: strp("two@bank.example"), Role: review.RoleOperator}, "h"); err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateOperator(ctx, "boss", "op_1", review.OperatorChange{Email: ptrTo("TWO@bank.example")})
		wantCode(t, err, review.EConflict)
		_, err = s.AddOperator(ctx, "boss", review.Operator{ID: "op_1", Name: "Again", Role: review.RoleOperator}, "h")
		wantCode(t, err, review.EConflict)

		// Password: audited, and ends earlier tokens (epoch).
		if err := s.SetOperatorPassword(ctx, "op_1", "op_1", "h2"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.SetOperatorPassword(ctx, "boss", "nobody", "h2"), review.ENotFound)
		wantRows(t, adminRows(t, s), "boss operator_add boss", "cli operator_add op_1",
			"boss operator_disable op_1", "boss operator_enable op_1", "boss operator_role op_1", "boss operator_edit op_1",
			"boss operator_add op_2", "op_1 operator_passwd op_1")
		if vs, err := s.Check(ctx); err != nil || len(vs) != 0 {
			t.Fatalf("check after administration: %+v, %v", vs, err)
		}
	})
}

// A password change, and a disabling, end every token issued before it;
// tokens issued after it work. Enabling again does not revive the old ones.
func TestPasswordChangeEndsEarlierTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, review.Operator{ID: "op_1", Name: "One", Role: review.RoleOperator}, "h")
		op, _ := s.GetOperator(ctx, "op_1")
		before := op.TokenEpoch
		if _, err := s.Authenticate(ctx, "op_1", "jti-old", before); err != nil {
			t.Fatal(err)
		}
		if err := s.SetOperatorPassword(ctx, store.CLIActor, "op_1", "h2"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Authenticate(ctx, "op_1", "jti-old", before)
		wantCode(t, err, review.EUnauthorized)
		op, _ = s.GetOperator(ctx, "op_1")
		if _, err := s.Authenticate(ctx, "op_1", "jti-new", op.TokenEpoch); err != nil {
			t.Fatalf("a token issued after the change: %v", err)
		}

		afterPasswd := op.TokenEpoch
		if err := s.DisableOperator(ctx, store.CLIActor, "op_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateOperator(ctx, store.CLIActor, "op_1", review.OperatorChange{Enabled: ptrTo(true)}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(ctx, "op_1", "jti-new", afterPasswd)
		wantCode(t, err, review.EUnauthorized)
	})
}

// The last enabled admin can be neither disabled nor demoted, also when two
// admins try to disable each other at once.
func TestLastAdminStays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, review.Operator{ID: "a1", Name: "A1", Role: review.RoleAdmin}, "h")
		_, err := s.UpdateOperator(ctx, "a1", "a1", review.OperatorChange{Enabled: ptrTo(false)})
		wantCode(t, err, review.EConflict)
		_, err = s.UpdateOperator(ctx, "a1", "a1", review.OperatorChange{Role: ptrTo(review.RoleOperator)})
		wantCode(t, err, review.EConflict)
		// A disabled admin does not count.
		mustCreate(t, s, review.Operator{ID: "a0", Name: "A0", Role: review.RoleAdmin, Disabled: true}, "h")
		_, err = s.UpdateOperator(ctx, "a1", "a1", review.OperatorChange{Enabled: ptrTo(false)})
		wantCode(t, err, review.EConflict)

		mustCreate(t, s, review.Operator{ID: "a2", Name: "A2", Role: review.RoleAdmin}, "h")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]string{{"a1", "a2"}, {"a2", "a1"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.UpdateOperator(ctx, pair[0], pair[1], review.OperatorChange{Enabled: ptrTo(false)})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if review.ErrorCode(err) != review.EConflict {
				t.Fatalf("concurrent disable: %v", err)
			}
		}
		ops, _ := s.ListOperators(ctx)
		enabledAdmins := 0
		for _, op := range ops {
			if op.Role == review.RoleAdmin && !op.Disabled {
				enabledAdmins++
			}
		}
		if ok != 1 || enabledAdmins != 1 {
			t.Fatalf("two admins disabling each other: %d succeeded, %d enabled admins left; want 1 and 1", ok, enabledAdmins)
		}
	})
}
