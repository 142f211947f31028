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
	ID        string    `json:"id"`
	Type      string    `json:"type" enum:"long_queue,high_rejection_rate,guardrail_failures,flagged_item,unusual_pattern"`
	Severity  string    `json:"severity" enum:"low,medium,high"`
	Message   string    `json:"message"`
	Count     int64     `json:"count"`
	ActionURL string    `json:"actionUrl" doc:"A link relative to the dashboard."`
	CreatedAt time.Time `json:"createdAt"`
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
	var pending, flagged, failing, approved, rejected int64
	var oldest, nthOldest, nthFailing, oldestFlag NullTime
	var firstReject sql.NullInt64
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
		&pending, &flagged, &oldest, &nthOldest, &failing, &nthFailing, &oldestFlag, &approved, &rejected, &firstReject)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	alerts := []Alert{}

	// long_queue
	if pending > th.QueuePending || (oldest.Valid && now.Sub(oldest.Time) > th.QueueAge) {
		a := Alert{ID: "long_queue:queue", Type: "long_queue", Severity: "medium", Count: pending, ActionURL: "/?status=pending"}
		began := now
		if pending > th.QueuePending && nthOldest.Valid {
			// The items pending now have numbered more than the threshold
			// since the one past it entered the queue.
			began = nthOldest.Time
		}
		age := time.Duration(0)
		if oldest.Valid {
			age = now.Sub(oldest.Time)
			if age > th.QueueAge && oldest.Time.Add(th.QueueAge).Before(began) {
				began = oldest.Time.Add(th.QueueAge)
			}
		}
		if pending > 2*th.QueuePending || age > 2*th.QueueAge {
			a.Severity = "high"
		}
		a.Message = fmt.Sprintf("%d recommendations are waiting for review (alert above %d); the oldest has waited %s",
			pending, th.QueuePending, roundDuration(age))
		a.CreatedAt = began
		alerts = append(alerts, a)
	}

	// high_rejection_rate
	if decided := approved + rejected; decided >= th.RejectionMinDecisions && decided > 0 {
		rate := 100 * float64(rejected) / float64(decided)
		if rate >= th.RejectionRate {
			a := Alert{ID: "high_rejection_rate:last_hour", Type: "high_rejection_rate", Severity: "medium", Count: rejected,
				ActionURL: "/audit-logs?action=reject", CreatedAt: hourFrom}
			if firstReject.Valid {
				a.CreatedAt = time.Unix(firstReject.Int64, 0).UTC()
			}
			if rate >= 2*th.RejectionRate || rate >= 75 {
				a.Severity = "high"
			}
			a.Message = fmt.Sprintf("%.0f%% of the last hour's %d decisions were rejections (alert at %s%%)",
				rate, decided, strconv.FormatFloat(th.RejectionRate, 'f', -1, 64))
			alerts = append(alerts, a)
		}
	}

	// guardrail_failures
	if failing >= th.GuardrailFailures {
		a := Alert{ID: "guardrail_failures:pending", Type: "guardrail_failures", Severity: "medium", Count: failing,
			ActionURL: "/?status=pending", CreatedAt: now}
		if nthFailing.Valid {
			a.CreatedAt = nthFailing.Time
		}
		if failing >= 5*th.GuardrailFailures {
			a.Severity = "high"
		}
		a.Message = fmt.Sprintf("%d pending recommendations failed a guardrail check (alert at %d)", failing, th.GuardrailFailures)
		alerts = append(alerts, a)
	}

	// flagged_item
	if flagged > 0 && oldestFlag.Valid {
		age := now.Sub(oldestFlag.Time)
		a := Alert{ID: "flagged_item:open_flags", Type: "flagged_item", Severity: "low", Count: flagged,
			ActionURL: "/?status=flagged", CreatedAt: oldestFlag.Time}
		switch {
		case age >= th.FlagAgeHigh:
			a.Severity = "high"
		case age >= th.FlagAgeMedium:
			a.Severity = "medium"
		}
		a.Message = fmt.Sprintf("%d flagged recommendations await senior review; the oldest flag is %s old", flagged, roundDuration(age))
		alerts = append(alerts, a)
	}

	fast, err := s.fastApprovers(ctx, now, th.FastApprovalsPerMinute)
	if err != nil {
		return nil, err
	}
	alerts = append(alerts, fast...)

	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	sort.SliceStable(alerts, func(i, j int) bool {
		if rank[alerts[i].Severity] != rank[alerts[j].Severity] {
			return rank[alerts[i].Severity] < rank[alerts[j].Severity]
		}
		return alerts[i].CreatedAt.Before(alerts[j].CreatedAt)
	})
	return alerts, nil
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
