package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// AlertThresholds say when each alert fires. Zero fields take the defaults
// of DefaultAlertThresholds.
type AlertThresholds struct {
	// long_queue: more than QueuePending items pending, or the oldest
	// pending item older than QueueAge.
	QueuePending int64
	QueueAge     time.Duration
	// high_rejection_rate: at least RejectionRate percent of the last
	// hour's decisions are rejections, once there are RejectionMinDecisions.
	RejectionRate         float64
	RejectionMinDecisions int64
	// guardrail_failures: at least GuardrailFailures pending items failed
	// a guardrail.
	GuardrailFailures int64
	// flagged_item: any unresolved flag; medium once the oldest is
	// FlagAgeMedium old, high at FlagAgeHigh.
	FlagAgeMedium, FlagAgeHigh time.Duration
	// unusual_pattern: an operator makes FastApprovalsPerMinute or more
	// single approvals (not bulk) within one minute, in any of the last 15
	// minutes: two seconds a recommendation is not reading it.
	FastApprovalsPerMinute float64
}

// DefaultAlertThresholds are the thresholds when none are configured.
var DefaultAlertThresholds = AlertThresholds{
	QueuePending: 500, QueueAge: 24 * time.Hour,
	RejectionRate: 30, RejectionMinDecisions: 20,
	GuardrailFailures: 10,
	FlagAgeMedium:     time.Hour, FlagAgeHigh: 24 * time.Hour,
	FastApprovalsPerMinute: 30,
}

// WithDefaults fills zero fields from DefaultAlertThresholds.
func (t AlertThresholds) WithDefaults() AlertThresholds {
	d := DefaultAlertThresholds
	t.QueuePending = orDefault(t.QueuePending, d.QueuePending)
	t.QueueAge = orDefault(t.QueueAge, d.QueueAge)
	t.RejectionRate = orDefault(t.RejectionRate, d.RejectionRate)
	t.RejectionMinDecisions = orDefault(t.RejectionMinDecisions, d.RejectionMinDecisions)
	t.GuardrailFailures = orDefault(t.GuardrailFailures, d.GuardrailFailures)
	t.FlagAgeMedium = orDefault(t.FlagAgeMedium, d.FlagAgeMedium)
	t.FlagAgeHigh = orDefault(t.FlagAgeHigh, d.FlagAgeHigh)
	t.FastApprovalsPerMinute = orDefault(t.FastApprovalsPerMinute, d.FastApprovalsPerMinute)
	return t
}

func orDefault[T int64 | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Alert is one condition that needs an operator's attention. ID is the
// type plus its subject, so it stays the same while the condition lasts;
// CreatedAt is when the condition began, worked out from the data (not
// from when someone first asked), so every process and every request agree.
type Alert struct {
	ID        string
	Type      string
	Severity  string
	Message   string
	Count     int64
	ActionURL string
	CreatedAt time.Time
}

// Alerts evaluates every alert from counters and short index walks: the
// status and guardrail-failure counters, the first entries of the pending,
// failing and open-flag indexes,
// and the last hour's activity_buckets / operator_buckets. Nothing grows
// with the number of recommendations or the length of the history.
func (s *Store) Alerts(ctx context.Context, th AlertThresholds) ([]Alert, error) {
	th = th.WithDefaults()
	now := s.Now()
	quarter := now.Truncate(bucketWidth)
	// The last hour in whole quarter-hours: the current one and the four
	// before it (60 to 75 minutes).
	hourFrom := quarter.Add(-4 * bucketWidth)
	c, err := s.alertCounts(ctx, th, hourFrom)
	if err != nil {
		return nil, err
	}
	alerts := []Alert{}
	if c.pending > th.QueuePending || (c.oldest.Valid && now.Sub(c.oldest.Time) > th.QueueAge) {
		alerts = append(alerts, longQueueAlert(c, th, now))
	}
	if decided := c.approved + c.rejected; decided >= th.RejectionMinDecisions && decided > 0 {
		if rate := 100 * float64(c.rejected) / float64(decided); rate >= th.RejectionRate {
			alerts = append(alerts, rejectionAlert(c, th, hourFrom, rate))
		}
	}
	if c.failing >= th.GuardrailFailures {
		alerts = append(alerts, guardrailAlert(c, th, now))
	}
	if c.flagged > 0 && c.oldestFlag.Valid {
		alerts = append(alerts, flaggedAlert(c, th, now))
	}
	fast, err := s.fastApprovers(ctx, now, th.FastApprovalsPerMinute)
	if err != nil {
		return nil, err
	}
	alerts = append(alerts, fast...)
	sortAlerts(alerts)
	return alerts, nil
}

// alertFigures is what the alerts are decided from, read in one statement.
type alertFigures struct {
	pending, flagged, failing, approved, rejected int64
	oldest, nthOldest, nthFailing, oldestFlag     NullTime
	firstReject                                   sql.NullInt64
}

// alertCounts reads the alerts' figures; the last hour's from hourFrom.
func (s *Store) alertCounts(ctx context.Context, th AlertThresholds, hourFrom time.Time) (alertFigures, error) {
	var c alertFigures
	failingIdx := s.d.indexedBy("idx_recommendations_pending_failed")
	// The oldest open flag orders by flagged_at alone: with resolved fixed
	// both engines walk idx_flags_resolved (resolved, flagged_at DESC)
	// backwards, where "ORDER BY resolved, flagged_at" made PostgreSQL sort
	// every open flag (86,000 at 1,000,000 recommendations: 23 ms).
	err := s.reads().QueryRow(ctx, `SELECT
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'pending'),
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'flagged'),
 (SELECT created_at FROM recommendations WHERE status = 'pending' ORDER BY status, created_at, recommendation_id LIMIT 1),
 (SELECT created_at FROM recommendations WHERE status = 'pending' ORDER BY status, created_at, recommendation_id LIMIT 1 OFFSET ?),
 (SELECT COALESCE(SUM(n), 0) FROM pending_guardrail_failures),
 (SELECT created_at FROM recommendations`+failingIdx+` WHERE status = 'pending' AND NOT guardrails_passed ORDER BY created_at LIMIT 1 OFFSET ?),
 (SELECT flagged_at FROM recommendation_flags WHERE resolved = ? ORDER BY flagged_at LIMIT 1),
 (SELECT COALESCE(SUM(n), 0) FROM activity_buckets WHERE bucket >= ? AND action = 'approve'),
 (SELECT COALESCE(SUM(n), 0) FROM activity_buckets WHERE bucket >= ? AND action = 'reject'),
 (SELECT MIN(bucket) FROM activity_buckets WHERE bucket >= ? AND action = 'reject' AND n > 0)`,
		th.QueuePending, th.GuardrailFailures-1, false, hourFrom.Unix(), hourFrom.Unix(), hourFrom.Unix()).Scan(
		&c.pending, &c.flagged, &c.oldest, &c.nthOldest, &c.failing, &c.nthFailing, &c.oldestFlag, &c.approved, &c.rejected, &c.firstReject)
	if err != nil {
		return c, fmt.Errorf("alerts: %w", err)
	}
	return c, nil
}

// longQueueAlert: too many pending, or the oldest pending too old.
func longQueueAlert(c alertFigures, th AlertThresholds, now time.Time) Alert {
	a := Alert{ID: "long_queue:queue", Type: "long_queue", Severity: "medium", Count: c.pending, ActionURL: "/?status=pending"}
	began := now
	if c.pending > th.QueuePending && c.nthOldest.Valid {
		// The items pending now have numbered more than the threshold
		// since the one past it entered the queue.
		began = c.nthOldest.Time
	}
	age := time.Duration(0)
	if c.oldest.Valid {
		age = now.Sub(c.oldest.Time)
		if age > th.QueueAge && c.oldest.Time.Add(th.QueueAge).Before(began) {
			began = c.oldest.Time.Add(th.QueueAge)
		}
	}
	if c.pending > 2*th.QueuePending || age > 2*th.QueueAge {
		a.Severity = "high"
	}
	a.Message = fmt.Sprintf("%d recommendations are waiting for review (alert above %d); the oldest has waited %s",
		c.pending, th.QueuePending, roundDuration(age))
	a.CreatedAt = began
	return a
}

// rejectionAlert: rate percent of the last hour's decisions were rejections.
func rejectionAlert(c alertFigures, th AlertThresholds, hourFrom time.Time, rate float64) Alert {
	decided := c.approved + c.rejected
	a := Alert{ID: "high_rejection_rate:last_hour", Type: "high_rejection_rate", Severity: "medium", Count: c.rejected,
		ActionURL: "/audit-logs?action=reject", CreatedAt: hourFrom}
	if c.firstReject.Valid {
		a.CreatedAt = time.Unix(c.firstReject.Int64, 0).UTC()
	}
	if rate >= 2*th.RejectionRate || rate >= 75 {
		a.Severity = "high"
	}
	a.Message = fmt.Sprintf("%.0f%% of the last hour's %d decisions were rejections (alert at %s%%)",
		rate, decided, strconv.FormatFloat(th.RejectionRate, 'f', -1, 64))
	return a
}

// guardrailAlert: too many pending recommendations failed a guardrail.
func guardrailAlert(c alertFigures, th AlertThresholds, now time.Time) Alert {
	a := Alert{ID: "guardrail_failures:pending", Type: "guardrail_failures", Severity: "medium", Count: c.failing,
		ActionURL: "/?status=pending", CreatedAt: now}
	if c.nthFailing.Valid {
		a.CreatedAt = c.nthFailing.Time
	}
	if c.failing >= 5*th.GuardrailFailures {
		a.Severity = "high"
	}
	a.Message = fmt.Sprintf("%d pending recommendations failed a guardrail check (alert at %d)", c.failing, th.GuardrailFailures)
	return a
}

// flaggedAlert: open flags, more severe the older the oldest.
func flaggedAlert(c alertFigures, th AlertThresholds, now time.Time) Alert {
	age := now.Sub(c.oldestFlag.Time)
	a := Alert{ID: "flagged_item:open_flags", Type: "flagged_item", Severity: "low", Count: c.flagged,
		ActionURL: "/?status=flagged", CreatedAt: c.oldestFlag.Time}
	switch {
	case age >= th.FlagAgeHigh:
		a.Severity = "high"
	case age >= th.FlagAgeMedium:
		a.Severity = "medium"
	}
	a.Message = fmt.Sprintf("%d flagged recommendations await senior review; the oldest flag is %s old", c.flagged, roundDuration(age))
	return a
}

// sortAlerts puts the most severe first, then the oldest.
func sortAlerts(alerts []Alert) {
	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	sort.SliceStable(alerts, func(i, j int) bool {
		if rank[alerts[i].Severity] != rank[alerts[j].Severity] {
			return rank[alerts[i].Severity] < rank[alerts[j].Severity]
		}
		return alerts[i].CreatedAt.Before(alerts[j].CreatedAt)
	})
}

// fastWindow is how long a minute of fast approvals keeps unusual_pattern up.
const fastWindow = 15 * time.Minute

// fastApprovers is the unusual_pattern alerts: operators with perMinute or
// more single approvals (bulk ones carry a bulk_id and are one decision)
// within one calendar minute, in any of the last 15 minutes.
func (s *Store) fastApprovers(ctx context.Context, now time.Time, perMinute float64) ([]Alert, error) {
	from := now.Truncate(time.Minute).Add(-fastWindow + time.Minute)
	rows, err := s.reads().Query(ctx, `SELECT operator_id, minute, SUM(n) FROM single_approval_minutes
WHERE minute >= ? GROUP BY operator_id, minute HAVING SUM(n) >= ? ORDER BY operator_id, minute`, from.Unix(), perMinute)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	byOp := map[string]*Alert{}
	busiest := map[string]int64{}
	var order []string
	for rows.Next() {
		var op string
		var minute, n int64
		if err := rows.Scan(&op, &minute, &n); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		a, ok := byOp[op]
		if !ok {
			a = &Alert{ID: "unusual_pattern:" + op, Type: "unusual_pattern", Severity: "medium",
				ActionURL: "/audit-logs?operator_id=" + op, CreatedAt: time.Unix(minute, 0).UTC()}
			byOp[op] = a
			order = append(order, op)
		}
		a.Count += n
		busiest[op] = max(busiest[op], n)
		if float64(n) >= 2*perMinute {
			a.Severity = "high"
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	out := make([]Alert, 0, len(order))
	for _, op := range order {
		a := byOp[op]
		a.Message = fmt.Sprintf("%s approved up to %d recommendations one by one within a minute (%d in such minutes since %s): faster than anyone can read them (alert at %s a minute)",
			op, busiest[op], a.Count, a.CreatedAt.Format("15:04 UTC"), strconv.FormatFloat(perMinute, 'f', -1, 64))
		out = append(out, *a)
	}
	return out, nil
}

// roundDuration shows an age the way a person says it: days past two
// days, hours and minutes past an hour.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}
