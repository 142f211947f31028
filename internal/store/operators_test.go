package store_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestMain (testdb.Main) is in users_test.go: a package has only one.

func strp(s string) *string { return &s }

func wantCode(t *testing.T, err error, code review.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got nil", code)
	}
	if got := review.ErrorCode(err); got != code {
		t.Fatalf("want %s error, got %s: %v", code, got, err)
	}
}

func mustCreate(t *testing.T, s *store.Store, op review.Operator, hash string) {
	t.Helper()
	if err := s.CreateOperator(context.Background(), op, hash); err != nil {
		t.Fatalf("create %s: %v", op.ID, err)
	}
}

func TestOperatorCreateGetList(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
		s.SetClock(func() time.Time { return t0 })

		mustCreate(t, s, review.Operator{ID: "op_b", Name: " Bea ", Email: strp(" Bea@Example.COM "), Role: review.RoleAdmin}, "hash-b")
		mustCreate(t, s, review.Operator{ID: "op_a", Name: "Ana", Role: review.RoleOperator}, "hash-a")
		mustCreate(t, s, review.Operator{ID: "svc", Name: "Engine", Email: strp("  "), Role: review.RoleIngest, Disabled: true}, "hash-s")

		got, err := s.GetOperator(ctx, "op_b")
		if err != nil {
			t.Fatal(err)
		}
		want := review.Operator{ID: "op_b", Name: "Bea", Email: strp("bea@example.com"), Role: review.RoleAdmin, CreatedAt: t0}
		if got.ID != want.ID || got.Name != want.Name || got.Email == nil || *got.Email != *want.Email ||
			got.Role != want.Role || got.Disabled || !got.CreatedAt.Equal(t0) {
			t.Fatalf("got %+v, want %+v", got, want)
		}

		svc, err := s.GetOperator(ctx, "svc")
		if err != nil {
			t.Fatal(err)
		}
		if svc.Email != nil || !svc.Disabled || svc.Role != review.RoleIngest {
			t.Fatalf("svc %+v", svc)
		}

		_, err = s.GetOperator(ctx, "nobody")
		wantCode(t, err, review.ENotFound)

		list, err := s.ListOperators(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, op := range list {
			ids = append(ids, op.ID)
		}
		if strings.Join(ids, ",") != "op_a,op_b,svc" {
			t.Fatalf("list %v", ids)
		}
	})
}

func TestOperatorListEmpty(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		list, err := s.ListOperators(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if list == nil || len(list) != 0 {
			t.Fatalf("list %#v, want empty non-nil", list)
		}
	})
}

func TestOperatorCreateConflicts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, review.Operator{ID: "op_1", Name: "One", Email: strp("one@example.com"), Role: review.RoleOperator}, "h")

		err := s.CreateOperator(ctx, review.Operator{ID: "op_1", Name: "Again", Role: review.RoleOperator}, "h")
		wantCode(t, err, review.EConflict)
		if !strings.Contains(err.Error(), `"op_1"`) {
			t.Fatalf("message %q does not name the id", err)
		}

		// Emails are unique whatever their case.
		err = s.CreateOperator(ctx, review.Operator{ID: "op_2", Name: "Two", Email: strp("ONE@example.com"), Role: review.RoleOperator}, "h")
		wantCode(t, err, review.EConflict)
		if !strings.Contains(err.Error(), "email") {
			t.Fatalf("message %q does not say email", err)
		}

		// Nothing was written by the refused attempts.
		if _, err := s.GetOperator(ctx, "op_2"); review.ErrorCode(err) != review.ENotFound {
			t.Fatalf("op_2 exists after a refused create: %v", err)
		}
		// Operators without email do not collide with one another.
		mustCreate(t, s, review.Operator{ID: "op_3", Name: "Three", Role: review.RoleOperator}, "h")
		mustCreate(t, s, review.Operator{ID: "op_4", Name: "Four", Role: review.RoleOperator}, "h")
	})
}

// TestOperatorCreateConcurrent: racing creations of one id give one
// operator and conflicts, never an internal error (on PostgreSQL the
// existence checks can both pass and the unique index decides).
func TestOperatorCreateConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.CreateOperator(ctx, review.Operator{ID: "dup", Name: "Dup", Email: strp("dup@example.com"), Role: review.RoleOperator}, "h")
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case review.ErrorCode(err) != review.EConflict:
				t.Errorf("want conflict, got %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d creations succeeded, want 1", ok)
		}
	})
}

func TestOperatorCreateInvalid(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for name, c := range map[string]struct {
			op   review.Operator
			hash string
		}{
			"empty id":   {review.Operator{ID: "", Name: "X", Role: review.RoleOperator}, "h"},
			"bad id":     {review.Operator{ID: "a b", Name: "X", Role: review.RoleOperator}, "h"},
			"email id":   {review.Operator{ID: "x@example.com", Name: "X", Role: review.RoleOperator}, "h"},
			"no name":    {review.Operator{ID: "x", Name: "  ", Role: review.RoleOperator}, "h"},
			"bad role":   {review.Operator{ID: "x", Name: "X", Role: "root"}, "h"},
			"no role":    {review.Operator{ID: "x", Name: "X"}, "h"},
			"bad email":  {review.Operator{ID: "x", Name: "X", Role: review.RoleOperator, Email: strp("not-an-email")}, "h"},
			"empty hash": {review.Operator{ID: "x", Name: "X", Role: review.RoleOperator}, ""},
		} {
			err := s.CreateOperator(ctx, c.op, c.hash)
			if review.ErrorCode(err) != review.EInvalid {
				t.Errorf("%s: want invalid, got %v", name, err)
			}
		}
		if list, _ := s.ListOperators(ctx); len(list) != 0 {
			t.Fatalf("invalid operators written: %+v", list)
		}
	})
}

func TestOperatorCredentials(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, review.Operator{ID: "Op_Ana", Name: "Ana", Email: strp("Ana@Example.com"), Role: review.RoleSenior}, "hash-ana")
		mustCreate(t, s, review.Operator{ID: "op_off", Name: "Off", Email: strp("off@example.com"), Role: review.RoleOperator, Disabled: true}, "hash-off")

		for _, ident := range []string{"Op_Ana", " Op_Ana ", "ana@example.com", "ANA@EXAMPLE.COM", " Ana@Example.com"} {
			op, hash, err := s.OperatorCredentials(ctx, ident)
			if err != nil {
				t.Fatalf("%q: %v", ident, err)
			}
			if op.ID != "Op_Ana" || hash != "hash-ana" || op.Role != review.RoleSenior {
				t.Fatalf("%q: %+v %q", ident, op, hash)
			}
		}
		// Operator ids are exact: another case is another id.
		for _, ident := range []string{"op_ana", "OP_ANA", "", "nobody", "nobody@example.com"} {
			_, hash, err := s.OperatorCredentials(ctx, ident)
			wantCode(t, err, review.ENotFound)
			if hash != "" {
				t.Fatalf("%q: hash %q returned with not found", ident, hash)
			}
		}
		// A disabled operator is returned, marked, for the caller to refuse.
		op, hash, err := s.OperatorCredentials(ctx, "off@example.com")
		if err != nil || !op.Disabled || hash != "hash-off" {
			t.Fatalf("disabled: %+v %q %v", op, hash, err)
		}
	})
}

func TestOperatorDisableAndPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, review.Operator{ID: "op_1", Name: "One", Role: review.RoleOperator}, "old")

		if err := s.SetOperatorPassword(ctx, store.CLIActor, "op_1", "new"); err != nil {
			t.Fatal(err)
		}
		if _, hash, err := s.OperatorCredentials(ctx, "op_1"); err != nil || hash != "new" {
			t.Fatalf("after passwd: %q %v", hash, err)
		}
		wantCode(t, s.SetOperatorPassword(ctx, store.CLIActor, "nobody", "x"), review.ENotFound)
		wantCode(t, s.SetOperatorPassword(ctx, store.CLIActor, "op_1", ""), review.EInvalid)

		if err := s.DisableOperator(ctx, store.CLIActor, "op_1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DisableOperator(ctx, store.CLIActor, "op_1"); err != nil {
			t.Fatalf("disabling twice: %v", err)
		}
		op, err := s.GetOperator(ctx, "op_1")
		if err != nil || !op.Disabled {
			t.Fatalf("after disable: %+v %v", op, err)
		}
		wantCode(t, s.DisableOperator(ctx, store.CLIActor, "nobody"), review.ENotFound)
	})
}

func TestTokenRevocation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

		if revoked, err := store.TokenRevoked(s, ctx, "jti-1"); err != nil || revoked {
			t.Fatalf("fresh jti revoked=%v err=%v", revoked, err)
		}
		if err := s.RevokeToken(ctx, "jti-1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Idempotent, even with another expiry.
		if err := s.RevokeToken(ctx, "jti-1", now.Add(2*time.Hour)); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if err := s.RevokeToken(ctx, "jti-2", now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.RevokeToken(ctx, "", now), review.EInvalid)
		for _, jti := range []string{"jti-1", "jti-2"} {
			if revoked, err := store.TokenRevoked(s, ctx, jti); err != nil || !revoked {
				t.Fatalf("%s revoked=%v err=%v", jti, revoked, err)
			}
		}

		// Purge forgets only what has expired.
		n, err := store.PurgeExpired(s, ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("purged %d rows, want 1", n)
		}
		if revoked, _ := store.TokenRevoked(s, ctx, "jti-2"); revoked {
			t.Fatal("expired jti-2 not purged")
		}
		if revoked, _ := store.TokenRevoked(s, ctx, "jti-1"); !revoked {
			t.Fatal("live jti-1 purged")
		}
		if n, err := store.PurgeExpired(s, ctx, now.Add(3*time.Hour)); err != nil || n != 1 {
			t.Fatalf("second purge: %d %v", n, err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		mustCreate(t, s, review.Operator{ID: "op_1", Name: "One", Email: strp("one@example.com"), Role: review.RoleSenior}, "h")
		mustCreate(t, s, review.Operator{ID: "op_2", Name: "Two", Role: review.RoleOperator}, "h")

		op, err := s.Authenticate(ctx, "op_1", "jti-a", 0)
		if err != nil {
			t.Fatal(err)
		}
		if op.ID != "op_1" || op.Role != review.RoleSenior || op.Email == nil || *op.Email != "one@example.com" {
			t.Fatalf("authenticated %+v", op)
		}

		// Unknown operator, empty values.
		_, err = s.Authenticate(ctx, "nobody", "jti-a", 0)
		wantCode(t, err, review.EUnauthorized)
		_, err = s.Authenticate(ctx, "", "jti-a", 0)
		wantCode(t, err, review.EUnauthorized)
		_, err = s.Authenticate(ctx, "op_1", "", 0)
		wantCode(t, err, review.EUnauthorized)

		// Logout: that token is refused, the operator's other tokens are not.
		if err := s.RevokeToken(ctx, "jti-a", exp); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(ctx, "op_1", "jti-a", 0)
		wantCode(t, err, review.EUnauthorized)
		if _, err := s.Authenticate(ctx, "op_1", "jti-b", 0); err != nil {
			t.Fatalf("other token of op_1: %v", err)
		}
		// A revoked jti is the token's, whoever presents it: refused for op_2 too.
		_, err = s.Authenticate(ctx, "op_2", "jti-a", 0)
		wantCode(t, err, review.EUnauthorized)

		// Disabling stops every token of the operator at once.
		if err := s.DisableOperator(ctx, store.CLIActor, "op_1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(ctx, "op_1", "jti-b", 0)
		wantCode(t, err, review.EUnauthorized)
		if _, err := s.Authenticate(ctx, "op_2", "jti-c", 0); err != nil {
			t.Fatalf("op_2 after op_1 disabled: %v", err)
		}

		// Every refusal reads the same.
		_, e1 := s.Authenticate(ctx, "nobody", "x", 0)
		_, e2 := s.Authenticate(ctx, "op_1", "jti-b", 0)
		_, e3 := s.Authenticate(ctx, "op_2", "jti-a", 0)
		if e1.Error() != e2.Error() || e2.Error() != e3.Error() {
			t.Fatalf("refusals differ: %q %q %q", e1, e2, e3)
		}
	})
}

// TestLoginThrottle: attempts are counted before they are answered; per
// account and address the first few are free, then each waits twice as
// long as the one before; another address is not slowed until the
// account's own, looser allowance is spent.
func TestLoginThrottle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		reserve := func(account, source string, at time.Time) (time.Duration, bool) {
			t.Helper()
			wait, ok, err := s.ReserveLogin(ctx, account, source, at)
			if err != nil {
				t.Fatal(err)
			}
			return wait, ok
		}
		// Five free attempts from one address.
		for i := range 5 {
			if _, ok := reserve("ana", "10.0.0.1", t0); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
		}
		// Then 1 s, 2 s, 4 s …: the sixth at once is refused, without counting.
		if wait, ok := reserve("ANA", "10.0.0.1", t0); ok || wait != time.Second {
			t.Fatalf("sixth at once: ok=%v wait=%s, want refused for 1s", ok, wait)
		}
		if _, ok := reserve("ana", "10.0.0.1", t0.Add(time.Second)); !ok {
			t.Fatal("sixth after its second refused")
		}
		if wait, ok := reserve("ana", "10.0.0.1", t0.Add(2*time.Second)); ok || wait != time.Second {
			t.Fatalf("seventh 1 s later: ok=%v wait=%s, want 1s more", ok, wait)
		}
		// Retry-After rounds up to a whole second.
		if wait, _ := reserve("ana", "10.0.0.1", t0.Add(2500*time.Millisecond)); wait != time.Second {
			t.Fatalf("wait %s, want 1s (rounded up)", wait)
		}
		// Another address is not slowed by this one.
		if _, ok := reserve("ana", "10.0.0.2", t0.Add(2*time.Second)); !ok {
			t.Fatal("another address was throttled by the first one's failures")
		}
		// A success resets both of ana's allowances.
		if err := s.LoginSucceeded(ctx, "ana", "10.0.0.1", t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, ok := reserve("ana", "10.0.0.1", t0.Add(3*time.Second)); !ok {
				t.Fatalf("after a success, attempt %d refused", i+1)
			}
		}
		// The back-off is capped at 15 minutes per address.
		at := t0.Add(time.Hour)
		for range 40 {
			wait, ok := reserve("bob", "10.0.0.9", at)
			if !ok {
				if wait > 15*time.Minute {
					t.Fatalf("wait %s beyond the 15 min cap", wait)
				}
				at = at.Add(wait)
			}
		}
		// Many addresses share the account's allowance: 20 free, then a
		// wait of at most a minute.
		at = t0.Add(2 * time.Hour)
		refusedAt := -1
		for i := range 30 {
			if _, ok := reserve("cy", "10.1.0."+strconv.Itoa(i), at); !ok && refusedAt < 0 {
				refusedAt = i
			}
		}
		if refusedAt != 20 {
			t.Fatalf("across addresses the first refusal came at attempt %d, want 21 (20 free, then 1 s)", refusedAt+1)
		}
		// Left alone for the window, an allowance is forgotten, and purged.
		if _, ok := reserve("ana", "10.0.0.1", t0.Add(3*time.Second+store.LoginFailureWindow+time.Hour)); !ok {
			t.Fatal("an allowance left alone for the window still throttles")
		}
		if n, err := store.PurgeExpired(s, ctx, t0.Add(48*time.Hour)); err != nil || n == 0 {
			t.Fatalf("purged %d rows (%v), want some", n, err)
		}
		if _, _, err := s.ReserveLogin(ctx, " ", "10.0.0.1", t0); review.ErrorCode(err) != review.EInvalid {
			t.Fatalf("empty account: %v", err)
		}
	})
}

// TestLoginThrottleConcurrent: attempts sent at once are all counted before
// any is answered, so a burst gets exactly the free attempts and no more.
func TestLoginThrottleConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var allowed atomic.Int64
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := s.ReserveLogin(ctx, "burst", "10.0.0.1", t0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := allowed.Load(); n != 5 {
			t.Fatalf("a burst of 100 attempts let %d through, want 5", n)
		}
	})
}
