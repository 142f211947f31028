package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one row of the audit trail.
type AuditEntry struct {
	AuditID          string
	OperatorID       string
	Action           string
	RecommendationID *string // nil for actions about no recommendation
	Metadata         json.RawMessage
	Timestamp        time.Time
	// The chain fields, filled in for exports only (EachAudit):
	// docs/RELIABILITY.md says how to check them.
	PrevHash *string
	RowHash  string
	SealID   *int64
}

// ActionFilterBulkApprove is the audit filter for approvals made in bulk
// (approve rows that carry a bulk_id); it is no action of its own.
const ActionFilterBulkApprove = "bulk_approve"

// AuditFilter selects audit rows; zero fields do not filter. To is exclusive.
type AuditFilter struct {
	OperatorID       string
	Action           string
	RecommendationID string
	From, To         *time.Time
	Limit, Offset    int
	Cursor           *Cursor
}

func (s *Store) auditWhere(f AuditFilter) (string, []any) {
	var where []string
	var args []any
	if f.OperatorID != "" {
		where, args = append(where, "operator_id = ?"), append(args, f.OperatorID)
	}
	switch f.Action {
	case "":
	case ActionFilterBulkApprove:
		where = append(where, "action = 'approve' AND "+s.d.jsonField("metadata", "bulk_id")+" IS NOT NULL")
	default:
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if f.RecommendationID != "" {
		where, args = append(where, "recommendation_id = ?"), append(args, f.RecommendationID)
	}
	if f.From != nil {
		where, args = append(where, "timestamp >= ?"), append(args, s.ts(*f.From))
	}
	if f.To != nil {
		where, args = append(where, "timestamp < ?"), append(args, s.ts(*f.To))
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// auditTotal is the number of audit rows matching f, from counters that
// triggers keep exact (counting a week's rows for the total of every page
// took ~10 ms at a million recommendations' history):
//
//   - filtered by operator and/or action only: audit_counts;
//   - with dates: audit_day_counts for the whole UTC days inside the range,
//     plus the rows of the partial days at its ends (none for bare dates);
//   - by recommendation: the rows, which its index bounds to a handful.
func (s *Store) auditTotal(ctx context.Context, f AuditFilter) (int64, error) {
	var q string
	var args []any
	switch {
	case f.RecommendationID != "" || f.Action == ActionFilterBulkApprove:
		// The counters do not tell bulk approvals from single ones.
		where, wargs := s.auditWhere(f)
		q, args = `SELECT COUNT(*) FROM operator_audit_log`+where, wargs
	case f.From == nil && f.To == nil:
		where, wargs := s.auditWhere(f)
		q, args = `SELECT COALESCE(SUM(n), 0) FROM audit_counts`+where, wargs
	default:
		q, args = s.auditTotalByDays(f)
	}
	var total int64
	if err := s.reads().QueryRow(ctx, q, args...).Scan(&total); err != nil {
		return 0, fmt.Errorf("count audit: %w", err)
	}
	return total, nil
}

// auditTotalByDays is the total under a date filter: whole days from
// audit_day_counts, the partial days at the ends from the rows.
func (s *Store) auditTotalByDays(f AuditFilter) (string, []any) {
	const day = 24 * time.Hour
	var daysFrom, daysTo *time.Time // the whole days: [daysFrom, daysTo)
	if f.From != nil {
		t := f.From.UTC().Truncate(day)
		if t.Before(*f.From) {
			t = t.Add(day)
		}
		daysFrom = &t
	}
	if f.To != nil {
		t := f.To.UTC().Truncate(day)
		daysTo = &t
	}
	if daysFrom != nil && daysTo != nil && !daysFrom.Before(*daysTo) {
		// Less than a whole day: count the rows.
		where, args := s.auditWhere(f)
		return `SELECT COUNT(*) FROM operator_audit_log` + where, args
	}
	parts := []string{}
	var args []any
	// Whole days.
	dayWhere, dayArgs := s.auditWhere(AuditFilter{OperatorID: f.OperatorID, Action: f.Action})
	cond := []string{}
	if daysFrom != nil {
		cond, dayArgs = append(cond, "day >= ?"), append(dayArgs, s.ts(*daysFrom))
	}
	if daysTo != nil {
		cond, dayArgs = append(cond, "day < ?"), append(dayArgs, s.ts(*daysTo))
	}
	if len(cond) > 0 {
		if dayWhere == "" {
			dayWhere = " WHERE " + strings.Join(cond, " AND ")
		} else {
			dayWhere += " AND " + strings.Join(cond, " AND ")
		}
	}
	parts = append(parts, `(SELECT COALESCE(SUM(n), 0) FROM audit_day_counts`+dayWhere+`)`)
	args = append(args, dayArgs...)
	// Partial days at the ends.
	edge := func(from, to time.Time) {
		where, wargs := s.auditWhere(AuditFilter{OperatorID: f.OperatorID, Action: f.Action, From: &from, To: &to})
		parts = append(parts, `(SELECT COUNT(*) FROM operator_audit_log`+where+`)`)
		args = append(args, wargs...)
	}
	if f.From != nil && f.From.Before(*daysFrom) {
		edge(*f.From, *daysFrom)
	}
	if f.To != nil && daysTo.Before(*f.To) {
		edge(*daysTo, *f.To)
	}
	return `SELECT ` + strings.Join(parts, " + "), args
}

const auditColumns = `audit_id, operator_id, action, recommendation_id, metadata, timestamp`

func scanAudit(row rowScanner) (AuditEntry, error) {
	var e AuditEntry
	var meta []byte
	var ts Time
	var rec sql.NullString
	if err := row.Scan(&e.AuditID, &e.OperatorID, &e.Action, &rec, &meta, &ts); err != nil {
		return e, err
	}
	e.RecommendationID, e.Metadata, e.Timestamp = strPtr(rec), json.RawMessage(meta), ts.Time
	return e, nil
}

// ListAudit returns one page of the audit trail, newest first, the total
// matching the filter, and the cursor of the next page.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, int64, *Cursor, error) {
	total, err := s.auditTotal(ctx, f)
	if err != nil {
		return nil, 0, nil, err
	}
	where, args := s.auditWhere(f)
	page := where
	pargs := append([]any{}, args...)
	if f.Cursor != nil {
		cond := "(timestamp, audit_id) < (?, ?)" // an index range on both engines, see ListRecommendations
		if page == "" {
			page = " WHERE " + cond
		} else {
			page += " AND " + cond
		}
		pargs = append(pargs, s.ts(f.Cursor.CreatedAt), f.Cursor.ID)
	}
	q := `SELECT ` + auditColumns + ` FROM operator_audit_log` + page + ` ORDER BY timestamp DESC, audit_id DESC LIMIT ? OFFSET ?`
	pargs = append(pargs, f.Limit+1, f.Offset)
	rows, err := s.reads().Query(ctx, q, pargs...)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := make([]AuditEntry, 0, f.Limit)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("list audit: %w", err)
	}
	var next *Cursor
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = &Cursor{CreatedAt: last.Timestamp, ID: last.AuditID}
	}
	return out, total, next, nil
}

// EachAudit streams every matching audit row, newest first, with its
// chain fields, to fn, a page of exportPage rows at a time. Each page is
// read with a deadline of pageTimeout and its connection given back before
// fn sees a row: otherwise a client that reads slowly would hold a pooled
// connection for as long as it takes to read, and a few such exports at once
// would leave none for every other request and for River's polling.
func (s *Store) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	where, args := s.auditWhere(f)
	var after *Cursor
	page := make([]AuditEntry, 0, exportPage)
	for {
		q, qargs := where, append([]any{}, args...)
		if after != nil {
			cond := "(timestamp, audit_id) < (?, ?)"
			if q == "" {
				q = " WHERE " + cond
			} else {
				q += " AND " + cond
			}
			qargs = append(qargs, s.ts(after.CreatedAt), after.ID)
		}
		qargs = append(qargs, exportPage)
		var err error
		if page, err = s.auditPage(ctx, `SELECT `+auditProofColumns+` FROM operator_audit_log`+q+` ORDER BY timestamp DESC, audit_id DESC LIMIT ?`, qargs, page[:0]); err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last := page[len(page)-1]
		after = &Cursor{CreatedAt: last.Timestamp, ID: last.AuditID}
	}
}

const (
	// exportPage is how many audit rows an export reads at once.
	exportPage = 1000
	// pageTimeout bounds each page's query.
	pageTimeout = 10 * time.Second
)

// auditPage runs one page's query into out.
func (s *Store) auditPage(ctx context.Context, query string, args []any, out []AuditEntry) ([]AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	rows, err := s.reads().Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("export audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAuditProof(rows)
		if err != nil {
			return nil, fmt.Errorf("export audit: %w", err)
		}
		e := AuditEntry{AuditID: r.AuditID, OperatorID: r.OperatorID, Action: r.Action,
			Metadata: json.RawMessage(r.Metadata), Timestamp: r.Timestamp, PrevHash: &r.PrevHash, RowHash: r.RowHash}
		if r.RecommendationID != "" { // "" is a row about no recommendation
			e.RecommendationID = &r.RecommendationID
		}
		if r.SealID != 0 {
			e.SealID = &r.SealID
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export audit: %w", err)
	}
	return out, nil
}
