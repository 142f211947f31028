package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/url"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// analyticsDoc is the /analytics body.
type analyticsDoc struct {
	DateRange struct {
		Start, End time.Time
	} `json:"date_range"`
	Summary struct {
		TotalActions             int64   `json:"total_actions"`
		ApprovalRate             float64 `json:"approval_rate"`
		FlagRate                 float64 `json:"flag_rate"`
		QueueSize                int64   `json:"queue_size"`
		AvgProcessingTimeMinutes float64 `json:"avg_processing_time_minutes"`
		RecommendationsGenerated int64   `json:"recommendations_generated"`
	} `json:"summary"`
	ActionsByType     []actionCount      `json:"actions_by_type"`
	ActionsTimeline   []timelineCount    `json:"actions_timeline"`
	OperatorActivity  []operatorActivity `json:"operator_activity"`
	ApprovalByPersona []personaApproval  `json:"approval_by_persona"`
}

type actionCount struct {
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

type timelineCount struct {
	Date   string `json:"date"`
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

type operatorActivity struct {
	OperatorID    string `json:"operator_id"`
	TotalActions  int64  `json:"total_actions"`
	Approvals     int64  `json:"approvals"`
	Rejections    int64  `json:"rejections"`
	Modifications int64  `json:"modifications"`
	Flags         int64  `json:"flags"`
}

type personaApproval struct {
	PersonaPrimary string  `json:"persona_primary"`
	Total          int64   `json:"total"`
	Approved       int64   `json:"approved"`
	Rejected       int64   `json:"rejected"`
	ApprovalRate   float64 `json:"approval_rate"`
}

func (e *env) analytics(query url.Values) analyticsDoc {
	e.t.Helper()
	r := e.do("GET", "/api/operator/analytics?"+query.Encode(), e.as(review.RoleOperator), nil).must(e.t, 200)
	var doc analyticsDoc
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		e.t.Fatal(err)
	}
	return doc
}

// TestAnalyticsHandComputed checks every figure of /analytics against
// figures worked out by hand, in a zone with a daylight-saving change in
// the range, and against /audit-logs and /stats on the same data.
func TestAnalyticsHandComputed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEnv(t, s)
		var now time.Time
		s.SetClock(func() time.Time { return now })
		at := func(y int, m time.Month, d, h, min int) { now = time.Date(y, m, d, h, min, 0, 0, time.UTC) }
		// Ten items enter the queue at 03:00Z on 9 March 2026 (23:00 on the
		// 8th in New York, the day its clocks went forward: 23 hours long).
		at(2026, 3, 9, 3, 0)
		ids := testdb.Fixture(t, s, 10, 0)
		opA := review.Actor{ID: "op_a", Role: review.RoleOperator}
		opB := review.Actor{ID: "op_b", Role: review.RoleOperator}
		approve := func(id string, a review.Actor) {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: a}); err != nil {
				t.Fatal(err)
			}
		}
		reject := func(id string, a review.Actor) {
			if _, err := s.Reject(ctx, review.RejectInput{ID: id, Actor: a, Reason: "no"}); err != nil {
				t.Fatal(err)
			}
		}
		at(2026, 3, 9, 3, 30) // New York 8 March 23:30, 30 min in the queue
		reject(ids[8], opA)
		at(2026, 3, 10, 3, 30) // 9 March 23:30, 1,470 min
		approve(ids[0], opA)
		at(2026, 3, 10, 4, 10) // 10 March 00:10, 1,510 min
		reject(ids[1], opA)
		at(2026, 3, 10, 5, 0) // 1,560 min
		approve(ids[2], opB)
		at(2026, 3, 10, 6, 0)
		if _, _, err := s.Flag(ctx, review.FlagInput{ID: ids[4], Actor: opB, Reason: "look"}); err != nil {
			t.Fatal(err)
		}
		at(2026, 3, 11, 12, 0) // 11 March
		title := "A new title"
		if _, _, err := s.Modify(ctx, review.ModifyInput{ID: ids[5], Actor: opA, Title: &title}); err != nil {
			t.Fatal(err)
		}
		at(2026, 3, 11, 13, 0) // 3,480 min each
		if res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: opB, IDs: []string{ids[6], ids[7]}}); err != nil || res.Approved != 2 {
			t.Fatal(res, err)
		}
		at(2026, 3, 11, 14, 0)

		doc := e.analytics(url.Values{"start_date": {"2026-03-08"}, "end_date": {"2026-03-11"}, "tz": {"America/New_York"}})
		if want := time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC); !doc.DateRange.Start.Equal(want) {
			t.Errorf("start %v, want %v", doc.DateRange.Start, want)
		}
		if want := time.Date(2026, 3, 12, 4, 0, 0, 0, time.UTC); !doc.DateRange.End.Equal(want) {
			t.Errorf("end %v, want %v", doc.DateRange.End, want)
		}
		sum := doc.Summary
		if sum.TotalActions != 8 || sum.ApprovalRate != 66.67 || sum.FlagRate != 14.29 || sum.QueueSize != 3 ||
			sum.RecommendationsGenerated != 10 || sum.AvgProcessingTimeMinutes != 1921.67 {
			t.Errorf("summary %+v", sum)
		}
		ac := func(action string, n int64) actionCount { return actionCount{Action: action, Count: n} }
		tl := func(date, action string, n int64) timelineCount {
			return timelineCount{Date: date, Action: action, Count: n}
		}
		if want := []actionCount{ac("approve", 4), ac("reject", 2), ac("flag", 1), ac("modify", 1)}; !reflect.DeepEqual(doc.ActionsByType, want) {
			t.Errorf("actions_by_type %+v, want %+v", doc.ActionsByType, want)
		}
		wantTimeline := []timelineCount{
			tl("2026-03-08", "reject", 1),
			tl("2026-03-09", "approve", 1),
			tl("2026-03-10", "approve", 1), tl("2026-03-10", "flag", 1), tl("2026-03-10", "reject", 1),
			tl("2026-03-11", "approve", 2), tl("2026-03-11", "modify", 1),
		}
		if !reflect.DeepEqual(doc.ActionsTimeline, wantTimeline) {
			t.Errorf("actions_timeline %+v, want %+v", doc.ActionsTimeline, wantTimeline)
		}
		wantOps := []operatorActivity{
			{OperatorID: "op_a", TotalActions: 4, Approvals: 1, Rejections: 2, Modifications: 1},
			{OperatorID: "op_b", TotalActions: 4, Approvals: 3, Flags: 1},
		}
		if !reflect.DeepEqual(doc.OperatorActivity, wantOps) {
			t.Errorf("operator_activity %+v, want %+v", doc.OperatorActivity, wantOps)
		}
		p := review.Personas // Fixture gives item i persona i % 5
		wantPersonas := []personaApproval{
			{PersonaPrimary: p[0], Total: 1, Approved: 1, ApprovalRate: 100},
			{PersonaPrimary: p[1], Total: 2, Approved: 1, Rejected: 1, ApprovalRate: 50},
			{PersonaPrimary: p[2], Total: 2, Approved: 2, ApprovalRate: 100},
			{PersonaPrimary: p[3], Total: 1, Rejected: 1, ApprovalRate: 0},
		}
		sort.Slice(wantPersonas, func(i, j int) bool { return wantPersonas[i].PersonaPrimary < wantPersonas[j].PersonaPrimary })
		if !reflect.DeepEqual(doc.ApprovalByPersona, wantPersonas) {
			t.Errorf("approval_by_persona %+v, want %+v", doc.ApprovalByPersona, wantPersonas)
		}

		// The audit trail agrees, action by action, over the same range.
		for _, ac := range doc.ActionsByType {
			q := url.Values{"action": {ac.Action}, "start_date": {doc.DateRange.Start.Format(time.RFC3339Nano)},
				"end_date": {doc.DateRange.End.Add(-time.Microsecond).Format(time.RFC3339Nano)}}
			total := e.do("GET", "/api/operator/audit-logs?"+q.Encode(), e.as(review.RoleOperator), nil).must(t, 200).JSON(t)["total"]
			if total != float64(ac.Count) {
				t.Errorf("audit-logs total for %s = %v, analytics %d", ac.Action, total, ac.Count)
			}
		}

		// /stats for today (11 March in New York) and /analytics for that day.
		stats := e.do("GET", "/api/operator/stats?tz=America/New_York", e.as(review.RoleOperator), nil).must(t, 200).JSON(t)
		day := e.analytics(url.Values{"start_date": {"2026-03-11"}, "end_date": {"2026-03-11"}, "tz": {"America/New_York"}})
		var approvals int64
		for _, o := range day.OperatorActivity {
			approvals += o.Approvals
		}
		if stats["approved_today"] != float64(approvals) || stats["pending"] != float64(day.Summary.QueueSize) ||
			math.Abs(stats["avg_review_time_seconds"].(float64)-60*day.Summary.AvgProcessingTimeMinutes) > 0.01 {
			t.Errorf("stats %v disagree with analytics %+v (approvals %d)", stats, day.Summary, approvals)
		}

		// RFC 3339 bounds with milliseconds widen to the quarter-hours.
		part := e.analytics(url.Values{"start_date": {"2026-03-10T04:05:00.123Z"}, "end_date": {"2026-03-10T05:00:00.000Z"}})
		if !part.DateRange.Start.Equal(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)) || !part.DateRange.End.Equal(time.Date(2026, 3, 10, 5, 15, 0, 0, time.UTC)) ||
			part.Summary.TotalActions != 2 || part.Summary.ApprovalRate != 50 {
			t.Errorf("partial range: %+v %+v", part.DateRange, part.Summary)
		}

		// The default is the 7 days up to the end of today (UTC here).
		def := e.analytics(url.Values{})
		if !def.DateRange.Start.Equal(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)) || !def.DateRange.End.Equal(time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)) ||
			def.Summary.TotalActions != 8 {
			t.Errorf("default range: %+v %+v", def.DateRange, def.Summary)
		}

		for _, bad := range []url.Values{
			{"start_date": {"2025-01-01"}, "end_date": {"2026-03-01"}},
			{"start_date": {"2026-03-02"}, "end_date": {"2026-03-01"}},
			{"start_date": {"yesterday"}},
			{"tz": {"Mars/Olympus"}},
		} {
			r := e.do("GET", "/api/operator/analytics?"+bad.Encode(), e.as(review.RoleOperator), nil).must(t, 422)
			if r.JSON(t)["detail"] == "" {
				t.Errorf("%v: no detail", bad)
			}
		}
		e.do("GET", "/api/operator/analytics", "", nil).must(t, 401)
		e.do("GET", "/api/operator/analytics", e.as(review.RoleIngest), nil).must(t, 403)
		e.do("GET", "/api/operator/alerts", e.as(review.RoleIngest), nil).must(t, 403)
		if list := e.do("GET", "/api/operator/alerts", e.as(review.RoleOperator), nil).must(t, 200).List(t); len(list) == 0 {
			t.Errorf("no alerts for an open flag: %v", list)
		}
	})
}
