package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

const opsPath = "/api/operator/operators"

// login logs in and returns the token, failing the test unless it works.
func (e *env) login(id, pw string) string {
	e.t.Helper()
	r := e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": id, "password": pw}).must(e.t, 200)
	return r.JSON(e.t)["access_token"].(string)
}

// adminAudit returns the audit trail's administration rows (about no
// recommendation) as "actor action", oldest first.
func (e *env) adminAudit() []string {
	e.t.Helper()
	rows, err := e.s.Read.Query(`SELECT operator_id, action FROM operator_audit_log WHERE recommendation_id IS NULL ORDER BY audit_id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var by, action string
		if err := rows.Scan(&by, &action); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, by+" "+action)
	}
	return out
}

// Only admins manage operators: 401 without a token, 403 for every other
// role, on every operator endpoint; self-service password is the exception.
func TestOperatorsAPIRoles(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	calls := []struct{ method, path string }{
		{"GET", opsPath}, {"POST", opsPath}, {"PATCH", opsPath + "/op_operator"},
		{"POST", opsPath + "/op_admin/password"},
	}
	body := map[string]any{"operator_id": "x_1", "name": "X", "role": "operator", "password": "a long enough password"}
	for _, c := range calls {
		body := body
		if strings.HasSuffix(c.path, "/password") {
			body = map[string]any{"password": "a long enough password", "current_password": testPassword}
		}
		e.do(c.method, c.path, "", body).must(t, 401)
		e.do(c.method, c.path, "not-a-token", body).must(t, 401)
		for _, role := range []review.Role{review.RoleOperator, review.RoleSenior, review.RoleIngest} {
			if r := e.do(c.method, c.path, e.as(role), body); r.Status != 403 {
				t.Errorf("%s %s as %s = %d, want 403: %s", c.method, c.path, role, r.Status, r.Body)
			}
		}
	}
	list := e.do("GET", opsPath, e.as(review.RoleAdmin), nil).must(t, 200).List(t)
	if len(list) != len(review.Roles) {
		t.Fatalf("list = %v", list)
	}
	for _, op := range list {
		for _, k := range []string{"operator_id", "name", "email", "role", "enabled", "created_at", "last_login_at"} {
			if _, ok := op[k]; !ok {
				t.Errorf("operator %v lacks %s", op["operator_id"], k)
			}
		}
		for k := range op {
			if strings.Contains(strings.ToLower(k), "password") || strings.Contains(k, "hash") {
				t.Errorf("operator %v shows %s", op["operator_id"], k)
			}
		}
	}
	if len(e.adminAudit()) != 0 {
		t.Fatalf("refused calls wrote audit rows: %v", e.adminAudit())
	}
}

// Add, disable, enable, change role and password through the API: each
// takes effect on the next request and is one audit row by the admin.
func TestOperatorsAPIRoundTrip(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		admin := e.as(review.RoleAdmin)
		const pw = "first password 1"
		r := e.do("POST", opsPath, admin, map[string]any{"operator_id": "op_new", "name": "New One", "email": "New@Bank.example", "role": "operator", "password": pw}).must(t, 201).JSON(t)
		if r["enabled"] != true || r["email"] != "new@bank.example" || r["last_login_at"] != nil {
			t.Fatalf("created %v", r)
		}
		e.do("POST", opsPath, admin, map[string]any{"operator_id": "op_new", "name": "Again", "role": "operator", "password": pw}).must(t, 409)
		tok := e.login("op_new", pw)
		e.do("GET", "/api/operator/recommendations", tok, nil).must(t, 200)
		e.do("POST", "/api/operator/flags/f/resolve", tok, map[string]any{"resolution": "approve", "notes": "x"}).must(t, 403)

		// Role change: the same token gets the new role at once.
		e.do("PATCH", opsPath+"/op_new", admin, map[string]any{"role": "senior_operator"}).must(t, 200)
		e.do("POST", "/api/operator/flags/f/resolve", tok, map[string]any{"resolution": "approve", "notes": "x"}).must(t, 404)
		// Disable: that token stops at once; enable: a new login works, the old token stays dead.
		e.do("PATCH", opsPath+"/op_new", admin, map[string]any{"enabled": false}).must(t, 200)
		e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
		e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_new", "password": pw}).must(t, 401)
		got := e.do("PATCH", opsPath+"/op_new", admin, map[string]any{"enabled": true}).must(t, 200).JSON(t)
		if got["enabled"] != true || got["role"] != "senior_operator" {
			t.Fatalf("after enable: %v", got)
		}
		e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
		tok = e.login("op_new", pw)

		// Unchanged values change nothing and write nothing.
		e.do("PATCH", opsPath+"/op_new", admin, map[string]any{"role": "senior_operator", "enabled": true}).must(t, 200)
		e.do("PATCH", opsPath+"/op_new", admin, map[string]any{}).must(t, 422)
		e.do("PATCH", opsPath+"/op_new", admin, map[string]any{"role": "root"}).must(t, 422)
		e.do("PATCH", opsPath+"/nobody", admin, map[string]any{"enabled": false}).must(t, 404)

		// Admin sets the password: earlier tokens end, the new password works.
		const pw2 = "second password 2"
		e.do("POST", opsPath+"/op_new/password", admin, map[string]any{"password": pw2}).must(t, 204)
		e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
		e.do("POST", "/api/auth/login", "", map[string]any{"operator_id": "op_new", "password": pw}).must(t, 401)
		tok = e.login("op_new", pw2)
		e.do("GET", "/api/auth/me", tok, nil).must(t, 200)

		list := e.do("GET", opsPath, admin, nil).must(t, 200).List(t)
		for _, op := range list {
			if op["operator_id"] == "op_new" && op["last_login_at"] == nil {
				t.Errorf("last_login_at not set after a login: %v", op)
			}
		}
		want := []string{"op_admin operator_add", "op_admin operator_role", "op_admin operator_disable",
			"op_admin operator_enable", "op_admin operator_passwd"}
		if got := e.adminAudit(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit = %q, want %q", got, want)
		}
		// The audit API shows them: about no recommendation, naming the target.
		logs := e.do("GET", "/api/operator/audit-logs?action=operator_role", admin, nil).must(t, 200).JSON(t)
		rows := logs["logs"].([]any)
		if len(rows) != 1 {
			t.Fatalf("operator_role rows = %v", logs)
		}
		row := rows[0].(map[string]any)
		meta := row["metadata"].(map[string]any)
		if row["operator_id"] != "op_admin" || row["recommendation_id"] != nil || meta["target_operator_id"] != "op_new" ||
			meta["from"] != "operator" || meta["to"] != "senior_operator" {
			t.Fatalf("operator_role row = %v", row)
		}
		if vs, err := s.Check(t.Context()); err != nil || len(vs) != 0 {
			t.Fatalf("check after administration: %+v %v", vs, err)
		}
	})
}

// An operator changes its own password with the current one; every token
// it held before stops working; a wrong current password changes nothing.
func TestOperatorsAPISelfServicePassword(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	path := opsPath + "/op_operator/password"
	old := e.as(review.RoleOperator)
	second := e.login("op_operator", testPassword)
	e.do("POST", path, old, map[string]any{"password": "a brand new password"}).must(t, 422)
	e.do("POST", path, old, map[string]any{"password": "a brand new password", "current_password": "wrong wrong wrong"}).must(t, 403)
	e.do("GET", "/api/auth/me", old, nil).must(t, 200)
	e.do("POST", path, old, map[string]any{"password": "a brand new password", "current_password": testPassword}).must(t, 204)
	for _, tok := range []string{old, second} {
		e.do("GET", "/api/auth/me", tok, nil).must(t, 401)
	}
	e.login("op_operator", "a brand new password")
	// Another operator's password is an admin's business.
	e.do("POST", opsPath+"/op_admin/password", e.as(review.RoleSenior),
		map[string]any{"password": "a brand new password", "current_password": testPassword}).must(t, 403)
	if got := e.adminAudit(); len(got) != 1 || got[0] != "op_operator operator_passwd" {
		t.Fatalf("audit = %q", got)
	}
}

// The password rule holds on every API path that sets a password, and the
// refusal never echoes the password.
func TestOperatorsAPIPasswordRule(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	admin := e.as(review.RoleAdmin)
	for _, bad := range []string{"x", "   ", "            ", "eleven char", "op_weak_pw_1", "weak@bank.example"} {
		r := e.do("POST", opsPath, admin, map[string]any{"operator_id": "op_weak_pw_1", "name": "W", "email": "weak@bank.example", "role": "operator", "password": bad})
		if r.Status != 422 || (strings.TrimSpace(bad) != "" && strings.Contains(string(r.Body), bad)) {
			t.Errorf("add with password %q = %d %s", bad, r.Status, r.Body)
		}
	}
	for _, bad := range []string{"x", "   ", "            ", "eleven char", "op_operator", "OP_OPERATOR@bank.example"} {
		r := e.do("POST", opsPath+"/op_operator/password", admin, map[string]any{"password": bad})
		if r.Status != 422 {
			t.Errorf("set password %q = %d %s", bad, r.Status, r.Body)
		}
		if !strings.Contains(string(r.Body), "password") {
			t.Errorf("refusal does not say what is wrong: %s", r.Body)
		}
	}
	if got := e.adminAudit(); len(got) != 0 {
		t.Fatalf("refused passwords wrote %v", got)
	}
	e.do("GET", "/api/auth/me", e.as(review.RoleOperator), nil).must(t, http.StatusOK)
}

// The last enabled admin can be neither disabled nor demoted through the API.
func TestOperatorsAPILastAdmin(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	admin := e.as(review.RoleAdmin)
	for _, body := range []map[string]any{{"enabled": false}, {"role": "operator"}} {
		r := e.do("PATCH", opsPath+"/op_admin", admin, body).must(t, 409)
		if !strings.Contains(string(r.Body), "last enabled admin") {
			t.Errorf("409 does not say why: %s", r.Body)
		}
	}
	e.do("POST", opsPath, admin, map[string]any{"operator_id": "admin_2", "name": "Second", "role": "admin", "password": "second admin password"}).must(t, 201)
	e.do("PATCH", opsPath+"/op_admin", admin, map[string]any{"role": "operator"}).must(t, 200)
	e.do("GET", opsPath, admin, nil).must(t, 403) // demoted: at once
}
