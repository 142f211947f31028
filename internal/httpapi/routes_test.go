package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestUnknownPaths: a path that does not exist is 404 whatever the method;
// 405 (with Allow) only for a path that exists with other methods.
func TestUnknownPaths(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		tok := e.as(review.RoleOperator)
		for _, c := range []struct {
			method, path string
			want         int
			allow        string
		}{
			{"GET", "/nonexistent", 404, ""},
			{"POST", "/nonexistent", 404, ""},
			{"PATCH", "/api/operator/nothing", 404, ""},
			{"DELETE", "/api/operator/nothing/else", 404, ""},
			{"POST", "/api/operator/recommendations/rec_1/approvee", 404, ""},
			{"DELETE", "/api/operator/recommendations/rec_1/notes/extra", 404, ""},
			{"PUT", "/api/nothing", 404, ""},
			{"GET", "/api/operator/recommendations/rec_1/approve", 405, "POST"},
			{"DELETE", "/api/operator/recommendations/rec_1/notes", 405, "GET, POST"},
			{"POST", "/api/operator/notes/n1", 405, "PATCH, DELETE"},
			{"POST", "/", 405, "GET"},
			{"DELETE", "/health", 405, "GET"},
		} {
			r := e.do(c.method, c.path, tok, nil)
			if r.Status != c.want || r.Header.Get("Allow") != c.allow {
				t.Errorf("%s %s: %d Allow %q, want %d Allow %q", c.method, c.path, r.Status, r.Header.Get("Allow"), c.want, c.allow)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") || r.JSON(t)["detail"] == "" {
				t.Errorf("%s %s: %q %s", c.method, c.path, r.Header.Get("Content-Type"), r.Body)
			}
		}
	})
}

// TestUnprocessableDetailNamesTheField: a client that shows only a 422's
// detail must still learn which field is wrong and how.
func TestUnprocessableDetailNamesTheField(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		id := e.fixture(1, 0)[0]
		op := e.as(review.RoleOperator)
		for _, c := range []struct {
			method, path string
			body         any
			want         []string
		}{
			{"PATCH", recPath(id), map[string]any{"priority": "urgent"}, []string{"priority", "high"}},
			{"PATCH", recPath(id), map[string]any{"title": ""}, []string{"title", "length"}},
			{"PATCH", recPath(id), map[string]any{"title": "   "}, []string{"title", "visible character"}},
			{"PATCH", recPath(id), map[string]any{}, []string{"title", "rationale", "priority"}},
			{"POST", recPath(id) + "/reject", map[string]any{}, []string{"reason"}},
			{"POST", recPath(id) + "/reject", map[string]any{"reason": 5}, []string{"reason", "string"}},
			{"POST", recPath(id) + "/flag", map[string]any{"reason": "x", "colour": "red"}, []string{"colour"}},
			{"GET", "/api/operator/recommendations?status=done", nil, []string{"status", "pending"}},
			{"GET", "/api/operator/audit-logs?limit=20000", nil, []string{"limit", "10000"}},
		} {
			r := e.do(c.method, c.path, op, c.body).must(t, 422)
			detail, _ := r.JSON(t)["detail"].(string)
			for _, w := range c.want {
				if !strings.Contains(detail, w) {
					t.Errorf("%s %s %v: detail %q does not mention %q", c.method, c.path, c.body, detail, w)
				}
			}
		}
	})
}

// TestEverySuccessIsJSON: the dashboard parses a JSON body from every 2xx,
// so every operation documents a JSON success body — except where the
// contract says otherwise: a POST it answers 204 (logout, password
// changes), the audit export (CSV or NDJSON) and the live stream
// (text/event-stream). A DELETE is never 204.
func TestEverySuccessIsJSON(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		var doc struct {
			Paths map[string]map[string]struct {
				OperationID string `json:"operationId"`
				Responses   map[string]struct {
					Content map[string]any `json:"content"`
				} `json:"responses"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(e.do("GET", "/openapi.json", "", nil).must(t, 200).Body, &doc); err != nil {
			t.Fatal(err)
		}
		exempt := map[string]bool{"export-audit-logs": true, "realtime-stream": true}
		n := 0
		for path, methods := range doc.Paths {
			for method, op := range methods {
				if op.OperationID == "" || exempt[op.OperationID] {
					continue
				}
				for code, r := range op.Responses {
					if !strings.HasPrefix(code, "2") || (code == "204" && method == "post") {
						continue
					}
					n++
					if _, ok := r.Content["application/json"]; !ok {
						t.Errorf("%s %s (%s): %s has no JSON body", strings.ToUpper(method), path, op.OperationID, code)
					}
				}
			}
		}
		if n < 30 {
			t.Fatalf("only %d success responses documented", n)
		}
	})
}
