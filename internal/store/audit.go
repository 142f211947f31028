package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one row of the audit trail.
type AuditEntry struct {
	AuditID          string          `json:"audit_id"`
	OperatorID       string          `json:"operator_id"`
	Action           string          `json:"action"`
	RecommendationID string          `json:"recommendation_id"`
	Metadata         json.RawMessage `json:"metadata"`
	Timestamp        time.Time       `json:"timestamp"`
}

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
	if f.Action != "" {
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

// auditCount is the query for the total matching f. Filtered by operator
// and action at most, it adds up audit_counts (kept by triggers: counting a
// million audit rows for one action took tens of milliseconds); with dates
// or a recommendation it counts the rows, over an index that bounds them.
func (s *Store) auditCount(f AuditFilter, where string) string {
	if f.From == nil && f.To == nil && f.RecommendationID == "" {
		return `SELECT COALESCE(SUM(n), 0) FROM audit_counts` + where
	}
	return `SELECT COUNT(*) FROM operator_audit_log` + where
}

const auditColumns = `audit_id, operator_id, action, recommendation_id, metadata, timestamp`

func scanAudit(row rowScanner) (AuditEntry, error) {
	var e AuditEntry
	var meta []byte
	var ts Time
	if err := row.Scan(&e.AuditID, &e.OperatorID, &e.Action, &e.RecommendationID, &meta, &ts); err != nil {
		return e, err
	}
	e.Metadata, e.Timestamp = json.RawMessage(meta), ts.Time
	return e, nil
}

// ListAudit returns one page of the audit trail, newest first, the total
// matching the filter, and the cursor of the next page.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, int64, *Cursor, error) {
	where, args := s.auditWhere(f)
	var total int64
	if err := s.Read.QueryRowContext(ctx, s.q(s.auditCount(f, where)), args...).Scan(&total); err != nil {
		return nil, 0, nil, fmt.Errorf("count audit: %w", err)
	}
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
	rows, err := s.Read.QueryContext(ctx, s.q(q), pargs...)
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

// EachAudit streams every matching audit row, newest first, to fn without
// holding more than one row in memory.
func (s *Store) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	where, args := s.auditWhere(f)
	rows, err := s.Read.QueryContext(ctx, s.q(`SELECT `+auditColumns+` FROM operator_audit_log`+where+` ORDER BY timestamp DESC, audit_id DESC`), args...)
	if err != nil {
		return fmt.Errorf("export audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("export audit: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
