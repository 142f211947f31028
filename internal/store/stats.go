package store

import (
	"context"
	"fmt"
	"time"
)

// Stats are the dashboard's headline figures.
type Stats struct {
	Pending              int64   `json:"pending"`
	ApprovedToday        int64   `json:"approved_today"`
	RejectedToday        int64   `json:"rejected_today"`
	Flagged              int64   `json:"flagged"`
	AvgReviewTimeSeconds float64 `json:"avg_review_time_seconds"`
}

// StatsInput selects the day (as [DayStart, DayEnd) in UTC, already worked
// out in the caller's time zone) and optionally one operator.
type StatsInput struct {
	DayStart, DayEnd time.Time
	OperatorID       string
}

// Stats computes the figures in one round trip. Pending and flagged come
// from recommendation_status_counts, which triggers keep exact (a COUNT(*)
// over half a million pending entries took tens of milliseconds); flagged
// counts flagged recommendations, which are exactly those with an open flag
// (an invariant every transaction keeps and `spendsense check` verifies).
// Today's decisions walk the (approved_at, approved_by) and (rejected_at,
// rejected_by) indexes over one day. The average review time is the mean
// of decision time minus the time the item entered the queue (created_at),
// over today's approvals and rejections.
func (s *Store) Stats(ctx context.Context, in StatsInput) (Stats, error) {
	from, to := s.ts(in.DayStart), s.ts(in.DayEnd)
	byOp, opArgs := "", []any{}
	if in.OperatorID != "" {
		byOp = " AND %s = ?"
		opArgs = []any{in.OperatorID}
	}
	approvedBy, rejectedBy := "", ""
	if byOp != "" {
		approvedBy, rejectedBy = fmt.Sprintf(byOp, "approved_by"), fmt.Sprintf(byOp, "rejected_by")
	}
	q := `SELECT
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'pending'),
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'flagged'),
 (SELECT COUNT(*) FROM recommendations WHERE approved_at >= ? AND approved_at < ?` + approvedBy + `),
 (SELECT COALESCE(SUM(` + s.d.secondsBetween("created_at", "approved_at") + `), 0) FROM recommendations WHERE approved_at >= ? AND approved_at < ?` + approvedBy + `),
 (SELECT COUNT(*) FROM recommendations WHERE rejected_at >= ? AND rejected_at < ?` + rejectedBy + `),
 (SELECT COALESCE(SUM(` + s.d.secondsBetween("created_at", "rejected_at") + `), 0) FROM recommendations WHERE rejected_at >= ? AND rejected_at < ?` + rejectedBy + `)`
	var args []any
	for i := 0; i < 4; i++ {
		args = append(args, from, to)
		args = append(args, opArgs...)
	}
	var st Stats
	var approvedSecs, rejectedSecs float64
	err := s.Read.QueryRowContext(ctx, s.q(q), args...).Scan(&st.Pending, &st.Flagged,
		&st.ApprovedToday, &approvedSecs, &st.RejectedToday, &rejectedSecs)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	if n := st.ApprovedToday + st.RejectedToday; n > 0 {
		st.AvgReviewTimeSeconds = (approvedSecs + rejectedSecs) / float64(n)
	}
	return st, nil
}
