package httpapi_test

import (
	"reflect"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestActionResponseIsTheStoredRecommendation checks that the recommendation
// an action answers with is exactly what a GET reads afterwards: the
// actions build it from their UPDATE's RETURNING and what they know of the
// delivery, not from a second read.
func TestActionResponseIsTheStoredRecommendation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(8, 0)
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		path := func(id, suffix string) string { return "/api/operator/recommendations/" + id + suffix }
		cases := []struct {
			name, method, path, token string
			body                      any
		}{
			{"approve", "POST", path(ids[0], "/approve"), op, map[string]any{"notes": "fine"}},
			{"approve without notes", "POST", path(ids[1], "/approve"), op, nil},
			{"reject", "POST", path(ids[2], "/reject"), op, map[string]any{"reason": "misleading"}},
			{"modify", "PATCH", path(ids[3], ""), op, map[string]any{"title": "A better title", "priority": "low"}},
			{"flag", "POST", path(ids[4], "/flag"), op, map[string]any{"reason": "check the rate"}},
			{"modify flagged", "PATCH", path(ids[4], ""), senior, map[string]any{"rationale": "Reworded."}},
		}
		for _, c := range cases {
			got, ok := e.do(c.method, c.path, c.token, c.body).must(t, 200).JSON(t)["recommendation"].(map[string]any)
			if !ok {
				t.Fatalf("%s: no recommendation in the answer", c.name)
			}
			id, _ := got["id"].(string)
			stored := e.do("GET", path(id, ""), op, nil).must(t, 200).JSON(t)
			if !reflect.DeepEqual(got, stored) {
				t.Errorf("%s: answered\n%v\nstored\n%v", c.name, got, stored)
			}
		}
	})
}
