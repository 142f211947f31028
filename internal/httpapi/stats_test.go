package httpapi_test

import (
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestStats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		c := &clock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
		s.SetClock(c.now)
		e := newEnv(t, s)
		ids := e.fixture(6, 0) // enter the queue at 22:00 UTC
		op, senior := e.as(review.RoleOperator), e.as(review.RoleSenior)
		c.t = c.t.Add(60 * time.Second) // 22:01
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, nil).must(t, 200)
		c.t = c.t.Add(120 * time.Second) // 22:03
		e.do("POST", "/api/operator/recommendations/"+ids[1]+"/reject", senior, map[string]any{"reason": "no"}).must(t, 200)
		e.do("POST", "/api/operator/recommendations/"+ids[2]+"/flag", op, map[string]any{"reason": "hmm"}).must(t, 200)

		st := e.do("GET", "/api/operator/stats", op, nil).must(t, 200).JSON(t)
		want := map[string]float64{"pending": 3, "approved_today": 1, "rejected_today": 1, "flagged": 1, "avg_review_time_seconds": 120}
		for k, v := range want {
			if got := st[k].(float64); math.Abs(got-v) > 0.01 {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
		mine := e.do("GET", "/api/operator/stats?operator_id=op_operator", op, nil).must(t, 200).JSON(t)
		if mine["approved_today"].(float64) != 1 || mine["rejected_today"].(float64) != 0 || mine["avg_review_time_seconds"].(float64) != 60 {
			t.Errorf("per-operator stats = %v", mine)
		}
		// The public dashboard sends its cache key as the operator id.
		for _, id := range []string{"ghost", url.QueryEscape("/api/operator/stats"), url.QueryEscape("op_operator' OR 1=1 --")} {
			nobody := e.do("GET", "/api/operator/stats?operator_id="+id, op, nil).must(t, 200).JSON(t)
			if nobody["approved_today"].(float64) != 0 || nobody["rejected_today"].(float64) != 0 || nobody["avg_review_time_seconds"].(float64) != 0 ||
				nobody["pending"].(float64) != 3 || nobody["flagged"].(float64) != 1 {
				t.Errorf("operator_id=%s: stats = %v, want zeros today beside pending 3, flagged 1", id, nobody)
			}
		}
		// 22:03 UTC is already tomorrow in Tokyo (UTC+9): today there began at 15:00 UTC, so the decisions count.
		// In Honolulu (UTC-10) it is 12:03 on the 25th: they count too. On Kiritimati (UTC+14) it is the 26th,
		// which began at 10:00 UTC on the 25th: they count. Move the clock a day on and nothing is today.
		for _, tz := range []string{"Asia/Tokyo", "Pacific/Honolulu", "Pacific/Kiritimati"} {
			if got := e.do("GET", "/api/operator/stats?tz="+tz, op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 1 {
				t.Errorf("tz=%s approved_today = %v, want 1", tz, got)
			}
		}
		c.t = c.t.Add(24 * time.Hour)
		if got := e.do("GET", "/api/operator/stats", op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 0 {
			t.Errorf("next day approved_today = %v", got)
		}
		// In New York (UTC-5) 22:01 UTC on the 25th is 17:01 on the 25th; the clock now says 22:03 on the 26th UTC = 17:03 on the 26th.
		if got := e.do("GET", "/api/operator/stats?tz=America/New_York", op, nil).must(t, 200).JSON(t)["approved_today"].(float64); got != 0 {
			t.Errorf("New York next day approved_today = %v", got)
		}
		e.do("GET", "/api/operator/stats?tz=Mars/Olympus", op, nil).must(t, 422)
	})
}
