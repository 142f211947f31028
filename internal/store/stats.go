package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Stats are the dashboard's headline figures.
type Stats struct {
	Pending              int64
	ApprovedToday        int64
	RejectedToday        int64
	Flagged              int64
	AvgReviewTimeSeconds float64
}

// StatsInput selects the day (as [DayStart, DayEnd) in UTC, already worked
// out in the caller's time zone) and optionally one operator.
type StatsInput struct {
	DayStart, DayEnd time.Time
	OperatorID       string
}

// Stats computes the figures in one round trip, from counters that
// triggers keep exact in every writing transaction (migrations 00003 and
// 00004): counting rows instead took tens of milliseconds at a million
// recommendations, and grew with every decision of the day.
//
// Pending and flagged come from recommendation_status_counts; flagged
// counts flagged recommendations, which are exactly those with an open flag
// (an invariant every transaction keeps and `spendsense check` verifies).
// Today's decisions add up decision_buckets, 15-minute UTC intervals per
// operator; every real time zone's day is a whole number of them. A day
// that is not (an offset in minutes that are not a multiple of 15, as in
// some zones' 19th-century local mean time) is counted from the rows
// instead. The average review time is the mean of decision time minus the
// time the item entered the queue (created_at), over today's approvals and
// rejections.
func (s *Store) Stats(ctx context.Context, in StatsInput) (Stats, error) {
	from, to := s.ts(in.DayStart), s.ts(in.DayEnd)
	counts := `SELECT
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'pending'),
 (SELECT COALESCE(SUM(n), 0) FROM recommendation_status_counts WHERE status = 'flagged'),`
	if onBucket(in.DayStart) && onBucket(in.DayEnd) {
		q := counts + ` COALESCE(SUM(approved), 0), COALESCE(SUM(approved_secs), 0), COALESCE(SUM(rejected), 0), COALESCE(SUM(rejected_secs), 0)
 FROM decision_buckets WHERE bucket >= ? AND bucket < ?`
		args := []any{from, to}
		if in.OperatorID != "" {
			q += ` AND operator_id = ?`
			args = append(args, in.OperatorID)
		}
		return s.scanStats(ctx, q, args)
	}
	byOp, opArgs := "", []any{}
	if in.OperatorID != "" {
		byOp = " AND %s = ?"
		opArgs = []any{in.OperatorID}
	}
	approvedBy, rejectedBy := "", ""
	if byOp != "" {
		approvedBy, rejectedBy = fmt.Sprintf(byOp, "approved_by"), fmt.Sprintf(byOp, "rejected_by")
	}
	q := counts + `
 (SELECT COUNT(*) FROM recommendations WHERE approved_at >= ? AND approved_at < ?` + approvedBy + `),
 (SELECT COALESCE(SUM(` + s.d.secondsBetween("created_at", "approved_at") + `), 0) FROM recommendations WHERE approved_at >= ? AND approved_at < ?` + approvedBy + `),
 (SELECT COUNT(*) FROM recommendations WHERE rejected_at >= ? AND rejected_at < ?` + rejectedBy + `),
 (SELECT COALESCE(SUM(` + s.d.secondsBetween("created_at", "rejected_at") + `), 0) FROM recommendations WHERE rejected_at >= ? AND rejected_at < ?` + rejectedBy + `)`
	var args []any
	for i := 0; i < 4; i++ {
		args = append(args, from, to)
		args = append(args, opArgs...)
	}
	return s.scanStats(ctx, q, args)
}

// bucketWidth is the width of a decision_buckets interval.
const bucketWidth = 15 * time.Minute

// onBucket reports whether t starts a decision_buckets interval.
func onBucket(t time.Time) bool { return t.UTC().Truncate(bucketWidth).Equal(t) }

// scanStats runs a stats query: pending, flagged, then today's approvals,
// their review seconds, rejections and theirs.
func (s *Store) scanStats(ctx context.Context, q string, args []any) (Stats, error) {
	var st Stats
	var approvedSecs, rejectedSecs float64
	err := s.reads().QueryRow(ctx, q, args...).Scan(&st.Pending, &st.Flagged,
		&st.ApprovedToday, &approvedSecs, &st.RejectedToday, &rejectedSecs)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	if n := st.ApprovedToday + st.RejectedToday; n > 0 {
		// To a tenth of a second: the sums come from float seconds, and
		// 61339.391999959946 is noise a person should not have to read.
		st.AvgReviewTimeSeconds = math.Round(10*(approvedSecs+rejectedSecs)/float64(n)) / 10
	}
	return st, nil
}
