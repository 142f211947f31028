package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// AnalyticsInput is a range [Start, End) on quarter-hour boundaries (the
// resolution of the counters it reads) and the time zone whose calendar
// days the timeline uses.
type AnalyticsInput struct {
	Start, End time.Time
	Loc        *time.Location
}

// Analytics are the dashboard's figures over a range.
type Analytics struct {
	DateRange         DateRange          `json:"date_range"`
	Summary           AnalyticsSummary   `json:"summary"`
	ActionsByType     []ActionCount      `json:"actions_by_type"`
	ActionsTimeline   []TimelineCount    `json:"actions_timeline"`
	OperatorActivity  []OperatorActivity `json:"operator_activity"`
	ApprovalByPersona []PersonaApproval  `json:"approval_by_persona"`
}

// DateRange is the range the figures cover: start inclusive, end exclusive.
type DateRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// AnalyticsSummary is the headline of the range. Rates are percentages.
type AnalyticsSummary struct {
	TotalActions             int64   `json:"total_actions" doc:"Audit rows in the range."`
	ApprovalRate             float64 `json:"approval_rate" doc:"approve / (approve + reject) audit rows, in percent."`
	FlagRate                 float64 `json:"flag_rate" doc:"flag / (approve + reject + flag) audit rows, in percent."`
	QueueSize                int64   `json:"queue_size" doc:"Pending now."`
	AvgProcessingTimeMinutes float64 `json:"avg_processing_time_minutes" doc:"Mean minutes from entering the queue to the decision, over the range's decisions (as /stats counts them)."`
	RecommendationsGenerated int64   `json:"recommendations_generated" doc:"Recommendations that entered the queue in the range."`
}

// ActionCount is the number of audit rows of one action.
type ActionCount struct {
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

// TimelineCount is the number of audit rows of one action on one day.
type TimelineCount struct {
	Date   string `json:"date" doc:"YYYY-MM-DD in the requested time zone."`
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

// OperatorActivity is one operator's audit rows in the range.
type OperatorActivity struct {
	OperatorID    string `json:"operator_id"`
	TotalActions  int64  `json:"total_actions"`
	Approvals     int64  `json:"approvals"`
	Rejections    int64  `json:"rejections"`
	Modifications int64  `json:"modifications"`
	Flags         int64  `json:"flags"`
}

// PersonaApproval is the range's approve and reject audit rows for items of
// one primary persona.
type PersonaApproval struct {
	PersonaPrimary string  `json:"persona_primary"`
	Total          int64   `json:"total"`
	Approved       int64   `json:"approved"`
	Rejected       int64   `json:"rejected"`
	ApprovalRate   float64 `json:"approval_rate"`
}

// createdAction is activity_buckets' row kind for recommendations entering
// the queue (not an audit action).
const createdAction = "created"

// Analytics computes every figure from counters (migrations 00007 and 00010, the
// status counters, audit_day_counts and decision_buckets), so the cost
// follows the length of the range in quarter-hours, not the number of rows.
func (s *Store) Analytics(ctx context.Context, in AnalyticsInput) (*Analytics, error) {
	out := &Analytics{DateRange: DateRange{Start: in.Start.UTC(), End: in.End.UTC()},
		ActionsByType: []ActionCount{}, ActionsTimeline: []TimelineCount{},
		OperatorActivity: []OperatorActivity{}, ApprovalByPersona: []PersonaApproval{}}
	byAction, err := s.analyticsActivity(ctx, in, out)
	if err != nil {
		return nil, err
	}
	if err := s.analyticsOperators(ctx, in, out); err != nil {
		return nil, err
	}
	sum := &out.Summary
	for action, n := range byAction {
		if action == createdAction {
			sum.RecommendationsGenerated = n
			continue
		}
		sum.TotalActions += n
		out.ActionsByType = append(out.ActionsByType, ActionCount{Action: action, Count: n})
	}
	sort.Slice(out.ActionsByType, func(i, j int) bool {
		a, b := out.ActionsByType[i], out.ActionsByType[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Action < b.Action)
	})
	approved, rejected, flagged := byAction["approve"], byAction["reject"], byAction["flag"]
	sum.ApprovalRate = percent(approved, approved+rejected)
	sum.FlagRate = percent(flagged, approved+rejected+flagged)

	var decided int64
	var secs float64
	err = s.Read.QueryRowContext(ctx, s.q(`SELECT
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'pending'),
 COALESCE(SUM(approved + rejected), 0), COALESCE(SUM(approved_secs + rejected_secs), 0)
 FROM decision_buckets WHERE bucket >= ? AND bucket < ?`), s.ts(in.Start), s.ts(in.End)).Scan(&sum.QueueSize, &decided, &secs)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	if decided > 0 {
		sum.AvgProcessingTimeMinutes = round2(secs / float64(decided) / 60)
	}
	return out, nil
}

// daySegment is a run of calendar days in the zone that are all 24 hours
// long (or a single day that is not), so a quarter-hour's day is plain
// arithmetic: (bucket - base) / 86400 days after base, one query for the
// whole run whatever its length.
type daySegment struct {
	from, to time.Time // the part of the range it covers
	base     time.Time // midnight (in the zone) of its first day
	days     int
}

// daySegments splits [start, end) at the zone's offset changes.
func daySegments(start, end time.Time, loc *time.Location) []daySegment {
	const day = 24 * time.Hour
	y, m, d := start.In(loc).Date()
	var segs []daySegment
	for dayStart := time.Date(y, m, d, 0, 0, 0, 0, loc); dayStart.Before(end); {
		next := nextMidnight(dayStart, loc)
		seg := daySegment{base: dayStart, from: maxTime(dayStart, start), days: 1}
		if next.Sub(dayStart) == day {
			for next.Before(end) {
				after := nextMidnight(next, loc)
				if after.Sub(next) != day {
					break
				}
				next = after
				seg.days++
			}
		}
		seg.to = minTime(next, end)
		segs = append(segs, seg)
		dayStart = next
	}
	return segs
}

func nextMidnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// analyticsActivity fills actions_timeline and approval_by_persona in one
// pass over the range's activity_buckets, and returns the range's totals by
// kind (audit actions and createdAction).
func (s *Store) analyticsActivity(ctx context.Context, in AnalyticsInput, out *Analytics) (map[string]int64, error) {
	segs := daySegments(in.Start, in.End, in.Loc)
	var parts []string
	var args []any
	for i, sg := range segs {
		parts = append(parts, fmt.Sprintf(`SELECT %d AS seg, (bucket - ?) / 86400 AS d, action, persona, n FROM activity_buckets WHERE bucket >= ? AND bucket < ?`, i))
		args = append(args, sg.base.Unix(), sg.from.Unix(), sg.to.Unix())
	}
	totals := map[string]int64{}
	if len(parts) == 0 {
		return totals, nil
	}
	rows, err := s.Read.QueryContext(ctx, s.q(`SELECT seg, d, action, persona, SUM(n) FROM (`+strings.Join(parts, " UNION ALL ")+`) x
GROUP BY seg, d, action, persona ORDER BY seg, d, action, persona`), args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	defer rows.Close()
	byPersona := map[string]*PersonaApproval{}
	for rows.Next() {
		var seg, d int
		var action, persona string
		var n int64
		if err := rows.Scan(&seg, &d, &action, &persona, &n); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		if n == 0 {
			continue
		}
		totals[action] += n
		if action == "approve" || action == "reject" {
			p, ok := byPersona[persona]
			if !ok {
				p = &PersonaApproval{PersonaPrimary: persona}
				byPersona[persona] = p
			}
			if action == "approve" {
				p.Approved += n
			} else {
				p.Rejected += n
			}
		}
		if action == createdAction {
			continue
		}
		// A 23- or 25-hour day is a segment of its own: its last hour
		// divides out to day 1, which is still day 0.
		d = min(d, segs[seg].days-1)
		b := segs[seg].base
		date := time.Date(b.Year(), b.Month(), b.Day()+d, 0, 0, 0, 0, in.Loc).Format("2006-01-02")
		// Rows come in (day, action) order, personas apart: add them up.
		if k := len(out.ActionsTimeline) - 1; k >= 0 && out.ActionsTimeline[k].Date == date && out.ActionsTimeline[k].Action == action {
			out.ActionsTimeline[k].Count += n
		} else {
			out.ActionsTimeline = append(out.ActionsTimeline, TimelineCount{Date: date, Action: action, Count: n})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	for _, p := range byPersona {
		p.Total = p.Approved + p.Rejected
		if p.Total == 0 {
			continue
		}
		p.ApprovalRate = percent(p.Approved, p.Total)
		out.ApprovalByPersona = append(out.ApprovalByPersona, *p)
	}
	sort.Slice(out.ApprovalByPersona, func(i, j int) bool {
		return out.ApprovalByPersona[i].PersonaPrimary < out.ApprovalByPersona[j].PersonaPrimary
	})
	return totals, nil
}

// analyticsOperators fills operator_activity: whole UTC days from
// audit_day_counts, the quarter-hours of the partial days at the ends
// from operator_buckets (a month of quarter-hours per operator and action
// was ~100,000 rows to add up at the benchmark's size; its days are 1,000).
func (s *Store) analyticsOperators(ctx context.Context, in AnalyticsInput, out *Analytics) error {
	const day = 24 * time.Hour
	daysFrom := in.Start.UTC().Truncate(day)
	if daysFrom.Before(in.Start) {
		daysFrom = daysFrom.Add(day)
	}
	daysTo := in.End.UTC().Truncate(day)
	var q string
	var args []any
	if daysFrom.Before(daysTo) {
		q = `SELECT operator_id, action, n FROM audit_day_counts WHERE day >= ? AND day < ?
 UNION ALL SELECT operator_id, action, n FROM operator_buckets WHERE bucket >= ? AND bucket < ?
 UNION ALL SELECT operator_id, action, n FROM operator_buckets WHERE bucket >= ? AND bucket < ?`
		args = []any{s.ts(daysFrom), s.ts(daysTo), in.Start.Unix(), daysFrom.Unix(), daysTo.Unix(), in.End.Unix()}
	} else {
		q = `SELECT operator_id, action, n FROM operator_buckets WHERE bucket >= ? AND bucket < ?`
		args = []any{in.Start.Unix(), in.End.Unix()}
	}
	rows, err := s.Read.QueryContext(ctx, s.q(`SELECT operator_id, action, SUM(n) FROM (`+q+`) x GROUP BY operator_id, action`), args...)
	if err != nil {
		return fmt.Errorf("analytics operators: %w", err)
	}
	defer rows.Close()
	byOp := map[string]*OperatorActivity{}
	for rows.Next() {
		var op, action string
		var n int64
		if err := rows.Scan(&op, &action, &n); err != nil {
			return fmt.Errorf("analytics operators: %w", err)
		}
		if n == 0 {
			continue
		}
		a, ok := byOp[op]
		if !ok {
			a = &OperatorActivity{OperatorID: op}
			byOp[op] = a
		}
		a.TotalActions += n
		switch action {
		case "approve":
			a.Approvals += n
		case "reject":
			a.Rejections += n
		case "modify":
			a.Modifications += n
		case "flag":
			a.Flags += n
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("analytics operators: %w", err)
	}
	for _, a := range byOp {
		out.OperatorActivity = append(out.OperatorActivity, *a)
	}
	sort.Slice(out.OperatorActivity, func(i, j int) bool {
		a, b := out.OperatorActivity[i], out.OperatorActivity[j]
		return a.TotalActions > b.TotalActions || (a.TotalActions == b.TotalActions && a.OperatorID < b.OperatorID)
	})
	return nil
}

// percent is 100·n/of rounded to hundredths, 0 when of is 0.
func percent(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return round2(100 * float64(n) / float64(of))
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
