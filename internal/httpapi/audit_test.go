package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestAuditLogs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		c := &clock{t: time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)}
		s.SetClock(c.now)
		e := newEnv(t, s)
		ids := e.fixture(12, 0)
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		for i, id := range ids[:10] {
			c.t = c.t.Add(10 * time.Minute) // the 10 actions span 20 Nov 23:40 → 21 Nov 01:10
			who := op
			if i%2 == 1 {
				who = senior
			}
			e.do("POST", "/api/operator/recommendations/"+id+"/approve", who, nil).must(t, 200)
		}
		all := e.do("GET", "/api/operator/audit-logs", op, nil).must(t, 200).JSON(t)
		if all["total"].(float64) != 10 || all["count"].(float64) != 10 || all["next_cursor"] != nil {
			t.Fatalf("audit = total %v count %v next %v", all["total"], all["count"], all["next_cursor"])
		}
		logs := all["logs"].([]any)
		if first := logs[0].(map[string]any); first["recommendation_id"] != ids[9] {
			t.Errorf("newest first: got %v", first["recommendation_id"])
		}
		for q, want := range map[string]float64{
			"operator_id=op_senior_operator": 5,
			"action=approve":                 10,
			"action=reject":                  0,
			"recommendation_id=" + ids[3]:    1,
			"end_date=2026-11-20":            2, // bare date: the whole day
			"start_date=2026-11-21":          8,
			"start_date=2026-11-21T00:00:00Z&end_date=2026-11-21T00:20:00Z": 3, // exact times, end inclusive
		} {
			if got := e.do("GET", "/api/operator/audit-logs?"+q, op, nil).must(t, 200).JSON(t)["total"].(float64); got != want {
				t.Errorf("%s: total %v, want %v", q, got, want)
			}
		}
		// Paging by cursor and by offset agree.
		p1 := e.do("GET", "/api/operator/audit-logs?limit=4", op, nil).must(t, 200).JSON(t)
		cur := p1["next_cursor"].(string)
		p2 := e.do("GET", "/api/operator/audit-logs?limit=4&cursor="+cur, op, nil).must(t, 200).JSON(t)
		p2o := e.do("GET", "/api/operator/audit-logs?limit=4&offset=4", op, nil).must(t, 200).JSON(t)
		if p2["logs"].([]any)[0].(map[string]any)["audit_id"] != p2o["logs"].([]any)[0].(map[string]any)["audit_id"] {
			t.Error("cursor page 2 differs from offset page 2")
		}
		for _, q := range []string{"action=delete", "start_date=yesterday", "end_date=2026-13-01", "limit=10001", "limit=0", "action=approved", "offset=-1", "start_date=2026-11-22&end_date=2026-11-21"} {
			e.do("GET", "/api/operator/audit-logs?"+q, op, nil).must(t, 422)
		}

		r := e.do("GET", "/api/operator/audit-logs/export?format=csv&operator_id=op_operator", op, nil).must(t, 200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("csv content-type %q", r.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil || len(rows) != 6 || rows[0][0] != "audit_id" {
			t.Errorf("csv: %v, %d rows", err, len(rows))
		}
		r = e.do("GET", "/api/operator/audit-logs/export?format=ndjson", op, nil).must(t, 200)
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(r.Body)); sc.Scan(); n++ {
		}
		if n != 10 {
			t.Errorf("ndjson lines = %d, want 10", n)
		}
		e.do("GET", "/api/operator/audit-logs/export?format=xml", op, nil).must(t, 422)
	})
}
