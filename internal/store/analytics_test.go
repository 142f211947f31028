package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestAnalyticsMatchesTheAuditTrail: /analytics' figures, read from day
// rollups corrected by quarter-hours at the zone's midnights, equal the
// same figures counted from the audit rows and the recommendations
// themselves, for ranges of every shape in zones whose midnights fall
// before, after and on UTC midnights (and at 30- and 45-minute offsets).
func TestAnalyticsMatchesTheAuditTrail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var now time.Time
		s.SetClock(func() time.Time { return now })
		t0 := time.Date(2026, 3, 5, 7, 20, 0, 0, time.UTC)
		now = t0
		ids := testdb.Fixture(t, s, 120, 0)
		r := rand.New(rand.NewPCG(12, 34))
		ops := []review.Actor{{ID: "op_a", Role: review.RoleOperator}, {ID: "op_b", Role: review.RoleOperator}, {ID: "op_c", Role: review.RoleOperator}}
		// Decisions spread over five days, a few minutes to a few hours apart.
		for _, id := range ids {
			now = now.Add(time.Duration(r.IntN(100)+1) * time.Minute)
			op := ops[r.IntN(len(ops))]
			var err error
			switch r.IntN(4) {
			case 0, 1:
				_, err = s.Approve(ctx, review.ApproveInput{ID: id, Actor: op})
			case 2:
				_, err = s.Reject(ctx, review.RejectInput{ID: id, Actor: op, Reason: "no"})
			default:
				_, _, err = s.Flag(ctx, review.FlagInput{ID: id, Actor: op, Reason: "look"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		end := now
		facts := auditFacts(t, s)

		for _, zone := range []string{"UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Pacific/Kiritimati", "America/St_Johns"} {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			ranges := [][2]time.Time{{t0.Add(-48 * time.Hour), end.Add(48 * time.Hour)}}
			y, m, d := t0.In(loc).Date()
			ranges = append(ranges, [2]time.Time{time.Date(y, m, d+1, 0, 0, 0, 0, loc), time.Date(y, m, d+3, 0, 0, 0, 0, loc)})
			for range 6 {
				a := t0.Add(time.Duration(r.IntN(6*96)-48) * 15 * time.Minute)
				b := a.Add(time.Duration(r.IntN(3*96)+1) * 15 * time.Minute)
				ranges = append(ranges, [2]time.Time{a, b})
			}
			for _, rg := range ranges {
				in := store.AnalyticsInput{Start: rg[0].UTC().Truncate(15 * time.Minute), End: rg[1].UTC().Truncate(15 * time.Minute), Loc: loc}
				got, err := s.Analytics(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				want := facts.expect(in)
				name := fmt.Sprintf("%s [%s, %s)", zone, in.Start.Format(time.RFC3339), in.End.Format(time.RFC3339))
				if g, w := fmt.Sprint(got.ActionsTimeline), fmt.Sprint(want.ActionsTimeline); g != w {
					t.Errorf("%s: timeline\n got %s\nwant %s", name, g, w)
				}
				if g, w := fmt.Sprint(sortedCounts(got.ActionsByType)), fmt.Sprint(sortedCounts(want.ActionsByType)); g != w {
					t.Errorf("%s: actions_by_type %s, want %s", name, g, w)
				}
				if g, w := fmt.Sprint(got.ApprovalByPersona), fmt.Sprint(want.ApprovalByPersona); g != w {
					t.Errorf("%s: approval_by_persona %s, want %s", name, g, w)
				}
				if g, w := fmt.Sprint(got.OperatorActivity), fmt.Sprint(want.OperatorActivity); g != w {
					t.Errorf("%s: operator_activity %s, want %s", name, g, w)
				}
				g, w := got.Summary, want.Summary
				if g.TotalActions != w.TotalActions || g.RecommendationsGenerated != w.RecommendationsGenerated || g.AvgProcessingTimeMinutes != w.AvgProcessingTimeMinutes {
					t.Errorf("%s: summary %+v, want %+v", name, g, w)
				}
			}
		}
	})
}

// auditFact is one audit row, with its item's persona and the time the
// item entered the queue.
type auditFact struct {
	at, created      time.Time
	action, op, pers string
	decided          bool // an approval or rejection that still stands
}

type auditFactSet struct {
	rows    []auditFact
	created []time.Time
}

func auditFacts(t *testing.T, s *store.Store) auditFactSet {
	t.Helper()
	rows, err := s.Read.Query(`SELECT a.timestamp, a.action, a.operator_id, r.persona_primary, r.created_at FROM operator_audit_log a
 JOIN recommendations r ON r.recommendation_id = a.recommendation_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var set auditFactSet
	for rows.Next() {
		var f auditFact
		var at, created store.NullTime
		if err := rows.Scan(&at, &f.action, &f.op, &f.pers, &created); err != nil {
			t.Fatal(err)
		}
		f.at, f.created = at.Time, created.Time
		f.decided = f.action == "approve" || f.action == "reject"
		set.rows = append(set.rows, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	crows, err := s.Read.Query(`SELECT created_at FROM recommendations`)
	if err != nil {
		t.Fatal(err)
	}
	defer crows.Close()
	for crows.Next() {
		var c store.NullTime
		if err := crows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		set.created = append(set.created, c.Time)
	}
	return set
}

// expect counts the figures of in from the rows one by one.
func (set auditFactSet) expect(in store.AnalyticsInput) store.Analytics {
	var out store.Analytics
	inRange := func(t time.Time) bool { return !t.Before(in.Start) && t.Before(in.End) }
	type dayAction struct{ date, action string }
	timeline := map[dayAction]int64{}
	byAction := map[string]int64{}
	persona := map[string]*store.PersonaApproval{}
	operators := map[string]*store.OperatorActivity{}
	var decided int64
	var minutes float64
	for _, f := range set.rows {
		if !inRange(f.at) {
			continue
		}
		timeline[dayAction{f.at.In(in.Loc).Format("2006-01-02"), f.action}]++
		byAction[f.action]++
		out.Summary.TotalActions++
		o := operators[f.op]
		if o == nil {
			o = &store.OperatorActivity{OperatorID: f.op}
			operators[f.op] = o
		}
		o.TotalActions++
		switch f.action {
		case "approve":
			o.Approvals++
		case "reject":
			o.Rejections++
		case "flag":
			o.Flags++
		}
		if f.decided {
			p := persona[f.pers]
			if p == nil {
				p = &store.PersonaApproval{PersonaPrimary: f.pers}
				persona[f.pers] = p
			}
			p.Total++
			if f.action == "approve" {
				p.Approved++
			} else {
				p.Rejected++
			}
			decided++
			minutes += f.at.Sub(f.created).Minutes()
		}
	}
	for _, c := range set.created {
		if inRange(c) {
			out.Summary.RecommendationsGenerated++
		}
	}
	if decided > 0 {
		out.Summary.AvgProcessingTimeMinutes = float64(int64(minutes/float64(decided)*100+0.5)) / 100
	}
	out.ActionsTimeline = []store.TimelineCount{}
	for k, n := range timeline {
		out.ActionsTimeline = append(out.ActionsTimeline, store.TimelineCount{Date: k.date, Action: k.action, Count: n})
	}
	sortBy(out.ActionsTimeline, func(a, b store.TimelineCount) bool {
		return a.Date < b.Date || (a.Date == b.Date && a.Action < b.Action)
	})
	for a, n := range byAction {
		out.ActionsByType = append(out.ActionsByType, store.ActionCount{Action: a, Count: n})
	}
	out.ApprovalByPersona = []store.PersonaApproval{}
	for _, p := range persona {
		p.ApprovalRate = float64(int64(10000*float64(p.Approved)/float64(p.Total)+0.5)) / 100
		out.ApprovalByPersona = append(out.ApprovalByPersona, *p)
	}
	sortBy(out.ApprovalByPersona, func(a, b store.PersonaApproval) bool { return a.PersonaPrimary < b.PersonaPrimary })
	out.OperatorActivity = []store.OperatorActivity{}
	for _, o := range operators {
		out.OperatorActivity = append(out.OperatorActivity, *o)
	}
	sortBy(out.OperatorActivity, func(a, b store.OperatorActivity) bool {
		return a.TotalActions > b.TotalActions || (a.TotalActions == b.TotalActions && a.OperatorID < b.OperatorID)
	})
	return out
}

func sortedCounts(c []store.ActionCount) []store.ActionCount {
	out := append([]store.ActionCount(nil), c...)
	sortBy(out, func(a, b store.ActionCount) bool { return a.Action < b.Action })
	return out
}

func sortBy[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
