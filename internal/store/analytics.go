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
	DateRange         DateRange
	Summary           AnalyticsSummary
	ActionsByType     []ActionCount
	ActionsTimeline   []TimelineCount
	OperatorActivity  []OperatorActivity
	ApprovalByPersona []PersonaApproval
}

// DateRange is the range the figures cover: start inclusive, end exclusive.
type DateRange struct {
	Start time.Time
	End   time.Time
}

// AnalyticsSummary is the headline of the range. Rates are percentages.
type AnalyticsSummary struct {
	TotalActions             int64
	ApprovalRate             float64
	FlagRate                 float64
	QueueSize                int64
	AvgProcessingTimeMinutes float64
	RecommendationsGenerated int64
}

// ActionCount is the number of audit rows of one action.
type ActionCount struct {
	Action string
	Count  int64
}

// TimelineCount is the number of audit rows of one action on one day.
type TimelineCount struct {
	Date   string // YYYY-MM-DD in the requested time zone
	Action string
	Count  int64
}

// OperatorActivity is one operator's audit rows in the range.
type OperatorActivity struct {
	OperatorID    string
	TotalActions  int64
	Approvals     int64
	Rejections    int64
	Modifications int64
	Flags         int64
}

// PersonaApproval is the range's approve and reject audit rows for items of
// one primary persona.
type PersonaApproval struct {
	PersonaPrimary string
	Total          int64
	Approved       int64
	Rejected       int64
	ApprovalRate   float64
}

// createdAction is activity_buckets' row kind for recommendations entering
// the queue (not an audit action).
const createdAction = "created"

// Analytics computes every figure from counters (migrations 00007, 00010
// and 00013, the status counters, audit_day_counts and decision_buckets):
// whole UTC days from the day rollups, and at each cut of the range (its
// ends and the zone's midnights) the quarter-hours between the cut and the
// nearest UTC midnight. The cost follows the number of days in the range,
// not the number of rows.
func (s *Store) Analytics(ctx context.Context, in AnalyticsInput) (*Analytics, error) {
	out := &Analytics{DateRange: DateRange{Start: in.Start.UTC(), End: in.End.UTC()},
		ActionsByType: []ActionCount{}, ActionsTimeline: []TimelineCount{},
		OperatorActivity: []OperatorActivity{}, ApprovalByPersona: []PersonaApproval{}}
	cuts := dayCuts(in.Start, in.End, in.Loc)
	byAction, err := s.analyticsActivity(ctx, in.Loc, cuts, out)
	if err != nil {
		return nil, err
	}
	if err := s.analyticsOperators(ctx, cuts[0], cuts[len(cuts)-1], out); err != nil {
		return nil, err
	}
	sum := &out.Summary
	for action, n := range byAction {
		if n == 0 {
			continue
		}
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

	first, last := cuts[0], cuts[len(cuts)-1]
	q := `SELECT approved, approved_secs, rejected, rejected_secs FROM decision_days WHERE day >= ? AND day < ?`
	args := []any{first.day.Unix(), last.day.Unix()}
	for _, c := range []struct {
		cut  dayCut
		sign int
	}{{first, first.sign()}, {last, -last.sign()}} {
		if from, to := c.cut.span(); from.Before(to) {
			q += fmt.Sprintf(` UNION ALL SELECT %[1]d * approved, %[1]d * approved_secs, %[1]d * rejected, %[1]d * rejected_secs
 FROM decision_buckets WHERE bucket >= ? AND bucket < ?`, c.sign)
			args = append(args, s.ts(from), s.ts(to))
		}
	}
	var decided int64
	var secs float64
	err = s.reads().QueryRow(ctx, `SELECT
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'pending'),
 COALESCE(SUM(approved + rejected), 0), COALESCE(SUM(approved_secs + rejected_secs), 0) FROM (`+q+`) x`, args...).Scan(&sum.QueueSize, &decided, &secs)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	if decided > 0 {
		sum.AvgProcessingTimeMinutes = round2(secs / float64(decided) / 60)
	}
	return out, nil
}

// dayCut is a point where the range is cut (an end, or a midnight of the
// zone inside it) and the UTC midnight nearest to it. The day rollups count
// whole UTC days; the quarter-hours between the cut and its midnight (at
// most 12 hours, none when they are the same) correct them.
type dayCut struct {
	at, day time.Time
}

// span is the part of the day between the cut and its midnight.
func (c dayCut) span() (from, to time.Time) {
	if c.day.Before(c.at) {
		return c.day, c.at
	}
	return c.at, c.day
}

// sign is how the span's counts adjust the days counted from c.day for the
// part of the range after the cut: subtracted when the midnight comes
// first (the days hold the span, which is before the cut), added when it
// comes later (the days miss it). The part before the cut takes the
// opposite sign.
func (c dayCut) sign() int {
	if c.day.Before(c.at) {
		return -1
	}
	return 1
}

// dayCuts cuts [start, end) at the zone's midnights: cut i and i+1 bound
// the range's i-th calendar day in loc.
func dayCuts(start, end time.Time, loc *time.Location) []dayCut {
	cut := func(t time.Time) dayCut {
		return dayCut{at: t, day: t.Add(12 * time.Hour).UTC().Truncate(24 * time.Hour)}
	}
	cuts := []dayCut{cut(start)}
	y, m, d := start.In(loc).Date()
	for next := time.Date(y, m, d+1, 0, 0, 0, 0, loc); next.Before(end); {
		cuts = append(cuts, cut(next))
		y, m, d = next.In(loc).Date()
		next = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return append(cuts, cut(end))
}

// activityKey is one (action, persona) of activity_buckets.
type activityKey struct{ action, persona string }

// analyticsActivity fills actions_timeline and approval_by_persona from
// activity_days and the hours and quarter-hours at every cut, and returns the
// range's totals by kind (audit actions and createdAction).
func (s *Store) analyticsActivity(ctx context.Context, loc *time.Location, cuts []dayCut, out *Analytics) (map[string]int64, error) {
	perDay, err := s.activityPerDay(ctx, cuts)
	if err != nil {
		return nil, err
	}
	totals, byPersona := activityTimeline(loc, cuts, perDay, out)
	out.ApprovalByPersona = append(out.ApprovalByPersona, approvalRates(byPersona)...)
	return totals, nil
}

// cutSpans splits each cut's span into its whole hours (for activity_hours)
// and the quarter-hours at an end that is not on the hour (zones 30 or 45
// minutes off, for activity_buckets), as (cut, from, to) triples in Unix
// seconds.
func cutSpans(cuts []dayCut) (hours, quarters []int64) {
	for k, c := range cuts {
		from, to := c.span()
		if !from.Before(to) {
			continue
		}
		hFrom, hTo := from.Truncate(time.Hour), to.Truncate(time.Hour)
		if hFrom.Before(from) {
			hFrom = hFrom.Add(time.Hour)
		}
		if !hFrom.Before(hTo) {
			// Less than an hour, all of it in quarter-hours.
			quarters = append(quarters, int64(k), from.Unix(), to.Unix())
			continue
		}
		hours = append(hours, int64(k), hFrom.Unix(), hTo.Unix())
		if from.Before(hFrom) {
			quarters = append(quarters, int64(k), from.Unix(), hFrom.Unix())
		}
		if hTo.Before(to) {
			quarters = append(quarters, int64(k), hTo.Unix(), to.Unix())
		}
	}
	return hours, quarters
}

// activityQuery is one statement whatever the number of days: the whole
// UTC days from activity_days (k = -1), and each cut's spans as a VALUES list
// joined to activity_hours and activity_buckets (k = the cut).
func activityQuery(cuts []dayCut) (string, []any) {
	hours, quarters := cutSpans(cuts)
	var with []string
	parts := []string{`SELECT -1 AS k, day, action, persona, SUM(n) AS n FROM activity_days WHERE day >= ? AND day < ? GROUP BY day, action, persona`}
	args := []any{cuts[0].day.Unix(), cuts[len(cuts)-1].day.Unix()}
	var cteArgs []any
	for _, t := range []struct {
		name, table, col string
		spans            []int64
	}{{"hour_spans", "activity_hours", "hour", hours}, {"quarter_spans", "activity_buckets", "bucket", quarters}} {
		if len(t.spans) == 0 {
			continue
		}
		rows := strings.Repeat(`(CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BIGINT)), `, len(t.spans)/3)
		with = append(with, t.name+`(k, lo, hi) AS (VALUES `+strings.TrimSuffix(rows, ", ")+`)`)
		for _, v := range t.spans {
			cteArgs = append(cteArgs, v)
		}
		parts = append(parts, fmt.Sprintf(`SELECT s.k, 0, a.action, a.persona, SUM(a.n) FROM %[1]s s JOIN %[2]s a ON a.%[3]s >= s.lo AND a.%[3]s < s.hi GROUP BY s.k, a.action, a.persona`,
			t.name, t.table, t.col))
	}
	q := strings.Join(parts, " UNION ALL ")
	if len(with) > 0 {
		q = "WITH " + strings.Join(with, ", ") + " " + q
		args = append(cteArgs, args...)
	}
	return q, args
}

// activityPerDay is the counts of each of the range's days (cuts i to i+1)
// by (action, persona).
func (s *Store) activityPerDay(ctx context.Context, cuts []dayCut) ([]map[activityKey]int64, error) {
	q, args := activityQuery(cuts)
	rows, err := s.reads().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	defer rows.Close()
	// perDay[i] are the counts of the range's i-th day (cuts i to i+1).
	perDay := make([]map[activityKey]int64, len(cuts)-1)
	for i := range perDay {
		perDay[i] = map[activityKey]int64{}
	}
	for rows.Next() {
		var k int
		var day, n int64
		var key activityKey
		if err := rows.Scan(&k, &day, &key.action, &key.persona, &n); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		if k < 0 {
			// The last cut whose midnight is at or before this day.
			i := sort.Search(len(cuts), func(i int) bool { return cuts[i].day.Unix() > day }) - 1
			perDay[i][key] += n
			continue
		}
		sign := int64(cuts[k].sign())
		if k < len(perDay) {
			perDay[k][key] += sign * n
		}
		if k > 0 {
			perDay[k-1][key] -= sign * n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	return perDay, nil
}

// activityTimeline appends each day's non-zero action counts to
// out.ActionsTimeline, and returns the range's totals by kind and its
// approvals and rejections by persona.
func activityTimeline(loc *time.Location, cuts []dayCut, perDay []map[activityKey]int64, out *Analytics) (map[string]int64, map[string]*PersonaApproval) {
	totals := map[string]int64{}
	byPersona := map[string]*PersonaApproval{}
	for i, counts := range perDay {
		date := cuts[i].at.In(loc).Format("2006-01-02")
		byAction := map[string]int64{}
		for key, n := range counts {
			totals[key.action] += n
			byAction[key.action] += n
			if key.action == "approve" || key.action == "reject" {
				p, ok := byPersona[key.persona]
				if !ok {
					p = &PersonaApproval{PersonaPrimary: key.persona}
					byPersona[key.persona] = p
				}
				if key.action == "approve" {
					p.Approved += n
				} else {
					p.Rejected += n
				}
			}
		}
		actions := make([]string, 0, len(byAction))
		for action, n := range byAction {
			if n != 0 && action != createdAction {
				actions = append(actions, action)
			}
		}
		sort.Strings(actions)
		for _, action := range actions {
			out.ActionsTimeline = append(out.ActionsTimeline, TimelineCount{Date: date, Action: action, Count: byAction[action]})
		}
	}
	return totals, byPersona
}

// approvalRates is the approval rate of each persona with a decision, by
// persona.
func approvalRates(byPersona map[string]*PersonaApproval) []PersonaApproval {
	var rates []PersonaApproval
	for _, p := range byPersona {
		p.Total = p.Approved + p.Rejected
		if p.Total == 0 {
			continue
		}
		p.ApprovalRate = percent(p.Approved, p.Total)
		rates = append(rates, *p)
	}
	sort.Slice(rates, func(i, j int) bool {
		return rates[i].PersonaPrimary < rates[j].PersonaPrimary
	})
	return rates
}

// analyticsOperators fills operator_activity: the UTC days between the
// range's first and last cut from audit_day_counts, corrected by the
// quarter-hours of operator_buckets at both cuts.
func (s *Store) analyticsOperators(ctx context.Context, first, last dayCut, out *Analytics) error {
	q := `SELECT operator_id, action, n FROM audit_day_counts WHERE day >= ? AND day < ?`
	args := []any{s.ts(first.day), s.ts(last.day)}
	for _, c := range []struct {
		cut  dayCut
		sign int
	}{{first, first.sign()}, {last, -last.sign()}} {
		if from, to := c.cut.span(); from.Before(to) {
			q += fmt.Sprintf(` UNION ALL SELECT operator_id, action, %d * n FROM operator_buckets WHERE bucket >= ? AND bucket < ?`, c.sign)
			args = append(args, from.Unix(), to.Unix())
		}
	}
	rows, err := s.reads().Query(ctx, `SELECT operator_id, action, SUM(n) FROM (`+q+`) x GROUP BY operator_id, action`, args...)
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
