package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// authzRequest is a concrete, valid-looking request for one operation.
type authzRequest struct {
	path string
	body any
}

// authzRequests builds one request per operation of the access table. A new
// operation without an entry here fails TestAuthorizationMatrix.
func authzRequests(pending, flagID string) map[string]func(i int) authzRequest {
	rec := "/api/operator/recommendations/"
	fixed := func(path string, body any) func(int) authzRequest {
		return func(int) authzRequest { return authzRequest{path, body} }
	}
	return map[string]func(int) authzRequest{
		"auth-me":              fixed("/api/auth/me", nil),
		"auth-logout":          fixed("/api/auth/logout", nil),
		"list-recommendations": fixed("/api/operator/recommendations?status=all", nil),
		"get-recommendation":   fixed(rec+pending, nil),
		"approve":              fixed(rec+pending+"/approve", map[string]any{"notes": "authz"}),
		"reject":               fixed(rec+pending+"/reject", map[string]any{"reason": "authz"}),
		"modify": func(i int) authzRequest {
			return authzRequest{rec + pending, map[string]any{"title": fmt.Sprintf("authz %d", i)}}
		},
		"flag":                   fixed(rec+pending+"/flag", map[string]any{"reason": "authz"}),
		"bulk-approve":           fixed(rec+"bulk-approve", map[string]any{"recommendation_ids": []string{pending}}),
		"get-trace":              fixed(rec+pending+"/trace", nil),
		"get-stats":              fixed("/api/operator/stats?tz=Europe/London", nil),
		"get-user":               fixed("/api/operator/users/user_0", nil),
		"get-user-signals":       fixed("/api/operator/users/user_0/signals", nil),
		"get-persona-history":    fixed("/api/operator/users/user_0/persona-history", nil),
		"list-audit-logs":        fixed("/api/operator/audit-logs", nil),
		"export-audit-logs":      fixed("/api/operator/audit-logs/export?format=ndjson", nil),
		"list-flags":             fixed("/api/operator/flags", nil),
		"resolve-flag":           fixed("/api/operator/flags/"+flagID+"/resolve", map[string]any{"resolution": "requeue", "notes": "authz"}),
		"claim-queue":            fixed("/api/operator/queue/claim", map[string]any{"limit": 1}),
		"release-queue":          fixed("/api/operator/queue/release", map[string]any{}),
		"list-deliveries":        fixed("/api/operator/deliveries?status=failed", nil),
		"get-alerts":             fixed("/api/operator/alerts", nil),
		"get-analytics":          fixed("/api/operator/analytics?tz=Europe/London", nil),
		"create-realtime-ticket": fixed("/api/realtime/ticket", nil),
		"retry-delivery":         fixed("/api/operator/deliveries/rec_0000/retry", nil),
		"list-operators":         fixed("/api/operator/operators", nil),
		"add-operator": func(i int) authzRequest {
			return authzRequest{"/api/operator/operators", map[string]any{"operator_id": fmt.Sprintf("authz_op_%d", i), "name": "Authz",
				"role": "operator", "password": "authz password long enough"}}
		},
		"update-operator": fixed("/api/operator/operators/op_operator", map[string]any{"name": "Renamed by authz"}),
		// {self} is the caller: everyone may change their own password. A
		// password the rule refuses (422) keeps every caller's tokens alive.
		"set-operator-password": fixed("/api/operator/operators/{self}/password", map[string]any{"password": "short", "current_password": "x"}),
		"list-notes":            fixed(rec+pending+"/notes", nil),
		"add-note":              fixed(rec+pending+"/notes", map[string]any{"note_text": "authz"}),
		"edit-note":             fixed("/api/operator/notes/no_such_note", map[string]any{"note_text": "authz"}),
		"delete-note":           fixed("/api/operator/notes/no_such_note", nil),
		"tag-vocabulary":        fixed("/api/operator/tags/available", nil),
		"list-tags":             fixed(rec+pending+"/tags", nil),
		"add-tag":               fixed(rec+pending+"/tags", map[string]any{"tag_name": "edge_case"}),
		"remove-tag":            fixed("/api/operator/tags/no_such_tag", nil),
		"retire-tag-vocabulary": fixed("/api/operator/tags/vocabulary/no_such_name", nil),
		"add-tag-vocabulary": func(i int) authzRequest {
			return authzRequest{"/api/operator/tags/vocabulary", map[string]any{"tag_name": fmt.Sprintf("authz_%d", i), "display_name": "Authz"}}
		},
		"undo": fixed(rec+pending+"/undo", nil),
		"ingest-users": func(i int) authzRequest {
			return authzRequest{"/api/ingest/users", map[string]any{"users": []any{map[string]any{"user_id": fmt.Sprintf("authz_user_%d", i),
				"signals": map[string]any{}, "personas": map[string]any{"30d": map[string]any{"primary": "student", "match_strength": 0.5}}}}}}
		},
		"ingest-recommendations": func(i int) authzRequest {
			return authzRequest{"/api/ingest/recommendations", map[string]any{"recommendations": []any{newRec(fmt.Sprintf("authz_rec_%d", i), "user_0")}}}
		},
	}
}

// TestAuthorizationMatrix calls every operation of the access table as
// every kind of caller: no token, a garbage token, an expired token, the
// token of a disabled operator (all 401), and each role (403 unless the
// table allows it). A refused call must leave the database as it was; an
// allowed one must not be refused.
func TestAuthorizationMatrix(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(4, 0)
		op := e.as(review.RoleOperator)
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, nil).must(t, 200)
		flagID := e.do("POST", "/api/operator/recommendations/"+ids[1]+"/flag", op, map[string]any{"reason": "x"}).must(t, 200).JSON(t)["flag_id"].(string)
		pending := ids[2]

		// The callers that must always be refused.
		e.addOperator("op_disabled", review.RoleAdmin)
		disabled := e.tokens["op_disabled"]
		if err := s.DisableOperator(t.Context(), store.CLIActor, "op_disabled"); err != nil {
			t.Fatal(err)
		}
		past, err := auth.NewIssuer(testSecret, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		past.SetClock(func() time.Time { return time.Now().Add(-3 * time.Hour) })
		expired, _, err := past.Issue("op_admin", review.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		refused := []struct{ name, token string }{
			{"no token", ""}, {"garbage token", "not.a.jwt"}, {"expired token", expired}, {"disabled operator", disabled},
		}

		doc := openAPIOperations(t, e)
		table := httpapi.AccessTable()
		builders := authzRequests(pending, flagID)
		opIDs := make([]string, 0, len(table))
		for id := range table {
			opIDs = append(opIDs, id)
		}
		sort.Strings(opIDs)
		calls, allowedCalls, forbidden := 0, 0, 0
		n := 0
		for _, opID := range opIDs {
			roles := table[opID]
			build, ok := builders[opID]
			if !ok {
				t.Errorf("operation %s has no request in authzRequests", opID)
				continue
			}
			d, ok := doc[opID]
			if !ok {
				t.Errorf("operation %s is not in the OpenAPI document", opID)
				continue
			}
			check := func(who, token string, want func(int) bool, wantText string, unchanged bool) {
				t.Helper()
				n++
				r := build(n)
				r.path = strings.ReplaceAll(r.path, "{self}", "op_"+who)
				if !pathMatches(d.path, r.path) {
					t.Fatalf("%s: request path %s does not match %s", opID, r.path, d.path)
				}
				var before map[string]string
				if unchanged {
					before = dumpDB(t, s)
				}
				res := e.do(d.method, r.path, token, r.body)
				calls++
				if !want(res.Status) {
					t.Errorf("%s %s (%s) as %s: %d, want %s; %s", d.method, r.path, opID, who, res.Status, wantText, trim(res.Body))
				}
				if unchanged {
					after := dumpDB(t, s)
					for table, rows := range before {
						if after[table] != rows {
							t.Errorf("%s as %s changed table %s", opID, who, table)
						}
					}
				}
			}
			for _, c := range refused {
				check(c.name, c.token, func(s int) bool { return s == 401 }, "401", true)
			}
			for _, role := range review.Roles {
				tok, _, err := e.issuer.Issue("op_"+role, review.Role(role)) // fresh: logout revokes its own
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(roles, review.Role(role)) {
					allowedCalls++
					check(role, tok, func(s int) bool { return s != 401 && s != 403 && s < 500 }, "neither 401, 403 nor 5xx", false)
				} else {
					forbidden++
					check(role, tok, func(s int) bool { return s == 403 }, "403", true)
				}
			}
		}
		t.Logf("%s: %d operations × %d callers = %d calls (%d allowed, %d forbidden, %d unauthenticated)",
			s.Engine, len(opIDs), len(refused)+len(review.Roles), calls, allowedCalls, forbidden, calls-allowedCalls-forbidden)
	})
}

// TestAccessTableMatchesOpenAPI: every /api operation of the OpenAPI
// document (but login) is in the access table with the same roles as its
// x-roles and a bearer security requirement, and every entry of the table
// is documented.
func TestAccessTableMatchesOpenAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		doc := openAPIOperations(t, e)
		table := httpapi.AccessTable()
		for opID, d := range doc {
			if !strings.HasPrefix(d.path, "/api/") {
				if _, ok := table[opID]; ok {
					t.Errorf("open operation %s (%s) is in the access table", opID, d.path)
				}
				continue
			}
			if d.path == "/api/auth/login" {
				if d.secured {
					t.Errorf("login requires a token")
				}
				continue
			}
			if opID == "realtime-stream" {
				// A token is optional (anonymous clients get redacted
				// events); its own handler checks it (stream_test.go).
				continue
			}
			roles, ok := table[opID]
			if !ok {
				t.Errorf("%s %s (%s) is not in the access table", d.method, d.path, opID)
				continue
			}
			want := make([]string, len(roles))
			for i, r := range roles {
				want[i] = string(r)
			}
			if !slices.Equal(d.roles, want) {
				t.Errorf("%s: x-roles %v, access table %v", opID, d.roles, want)
			}
			if !d.secured {
				t.Errorf("%s: no bearer security requirement in the document", opID)
			}
		}
		for opID := range table {
			if _, ok := doc[opID]; !ok {
				t.Errorf("access table entry %s is not a documented operation", opID)
			}
		}
	})
}

type docOp struct {
	method, path string
	roles        []string
	secured      bool
}

// openAPIOperations reads the served OpenAPI document: operation id →
// method, path, x-roles and whether it requires the bearer scheme.
func openAPIOperations(t *testing.T, e *env) map[string]docOp {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Roles       []string              `json:"x-roles"`
			Security    []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(e.do("GET", "/openapi.json", "", nil).must(t, 200).Body, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]docOp{}
	for path, methods := range doc.Paths {
		for method, op := range methods {
			m := strings.ToUpper(method)
			if m != http.MethodGet && m != http.MethodPost && m != http.MethodPatch && m != http.MethodPut && m != http.MethodDelete {
				continue
			}
			secured := false
			for _, req := range op.Security {
				if _, ok := req["bearer"]; ok {
					secured = true
				}
			}
			out[op.OperationID] = docOp{method: m, path: path, roles: op.Roles, secured: secured}
		}
	}
	return out
}

// pathMatches reports whether a concrete path (with query) fits a template.
func pathMatches(template, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i], "{") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}
