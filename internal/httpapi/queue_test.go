package httpapi_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestQueueClaims(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.fixture(10, 0)
		e.addOperator("op_b", review.RoleOperator)
		a, b := e.as(review.RoleOperator), e.tokens["op_b"]
		ca := e.do("POST", "/api/operator/queue/claim", a, map[string]any{"limit": 4}).must(t, 200).JSON(t)
		cb := e.do("POST", "/api/operator/queue/claim", b, map[string]any{"limit": 4}).must(t, 200).JSON(t)
		seen := map[string]string{}
		for who, c := range map[string]map[string]any{"a": ca, "b": cb} {
			claimed := c["claimed"].([]any)
			if len(claimed) != 4 || c["lease_expires_at"] == nil {
				t.Fatalf("%s claimed %d", who, len(claimed))
			}
			for _, r := range claimed {
				id := r.(map[string]any)["id"].(string)
				if seen[id] != "" {
					t.Fatalf("%s claimed by both", id)
				}
				seen[id] = who
			}
		}
		var aItem, bItem string
		for id, who := range seen {
			if who == "a" {
				aItem = id
			} else {
				bItem = id
			}
		}
		c := e.do("POST", "/api/operator/recommendations/"+aItem+"/approve", b, nil).must(t, 409).JSON(t)
		if c["current_status"] != "pending" {
			t.Errorf("409 current_status = %v", c["current_status"])
		}
		e.do("POST", "/api/operator/recommendations/"+aItem+"/approve", a, nil).must(t, 200)
		r := e.do("POST", "/api/operator/recommendations/bulk-approve", a, map[string]any{"recommendation_ids": []string{bItem}}).must(t, 200).JSON(t)
		if r["approved"].(float64) != 0 || !strings.HasPrefix(r["failed_items"].([]any)[0].(map[string]any)["reason"].(string), "claimed") {
			t.Errorf("bulk over another's claim = %v", r)
		}
		if n := e.do("POST", "/api/operator/queue/release", b, nil).must(t, 200).JSON(t)["released"].(float64); n != 4 {
			t.Errorf("released %v, want 4", n)
		}
		e.do("POST", "/api/operator/recommendations/"+bItem+"/approve", a, nil).must(t, 200)
		e.do("POST", "/api/operator/queue/claim", a, map[string]any{"limit": 101}).must(t, 422)
	})
}
