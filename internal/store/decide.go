package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/review"
)

// SetUndoWindow sets how long a decision may be undone (0: undo is off,
// and approvals are delivered at once).
func (s *Store) SetUndoWindow(d time.Duration) { s.undoWindow = max(d, 0) }

// undoDeadline is when a decision made at now stops being undoable, nil
// when undo is off.
func (s *Store) undoDeadline(now time.Time) *time.Time {
	if s.undoWindow <= 0 {
		return nil
	}
	t := now.Add(s.undoWindow)
	return &t
}

// decision is one edge of the status machine applied to recommendations
// already read (and, on PostgreSQL, locked) in the transaction: what the
// edge sets besides the status, and the audit row each change writes.
type decision struct {
	edge     review.Edge
	actor    review.Actor
	approval review.Approval // for edges that approve: the guardrail rule's input
	// set holds the edge's own assignments ("approved_by = ?, …") and args
	// their values; decide adds the status, version and claim columns.
	set  string
	args []any
	// audit is the audit action; meta its metadata for each changed row
	// (nil: none). Every change writes exactly one audit row.
	audit string
	meta  func(rec *review.Recommendation) map[string]any
}

// decided is what decide did to one recommendation.
type decided struct {
	before, after *review.Recommendation
	auditID       string
}

// decide is the one write path of the status machine: single actions,
// bulk approval, flag resolution and undo all come through it. For each of
// recs it applies review.Check (the machine and the guardrail rule);
// refused items are returned with their error, untouched. The rest change
// in conditional UPDATEs (status and version as read, so a concurrent
// change makes the item a conflict instead of a double decision), each
// with its audit row, and approvals enqueue their delivery — all in tx.
func (tx *Tx) decide(ctx context.Context, d decision, recs []*review.Recommendation) ([]decided, map[string]error, error) {
	refused := map[string]error{}
	// Items are grouped by (status now, status next): one UPDATE per group.
	type group struct {
		from, to review.Status
		recs     []*review.Recommendation
	}
	var groups []*group
	for _, rec := range recs {
		to, err := review.Check(d.edge, rec, d.approval)
		if err != nil {
			refused[rec.ID] = err
			continue
		}
		var g *group
		for _, x := range groups {
			if x.from == rec.Status && x.to == to {
				g = x
			}
		}
		if g == nil {
			g = &group{from: rec.Status, to: to}
			groups = append(groups, g)
		}
		g.recs = append(g.recs, rec)
	}
	var out []decided
	var approved []string
	for _, g := range groups {
		// Each change's audit row is linked to its chain before the UPDATE,
		// so that the UPDATE itself moves the chain head (the row lock the
		// caller holds keeps rec.AuditHead current): no second write of
		// the row, which on PostgreSQL would also run its triggers again.
		entries := make([]AuditRecord, len(g.recs))
		for i, rec := range g.recs {
			var meta map[string]any
			if d.meta != nil {
				meta = d.meta(rec)
			}
			entries[i] = AuditRecord{OperatorID: d.actor.ID, Action: d.audit, RecommendationID: rec.ID, Metadata: meta}
		}
		rows, err := tx.newAuditRows(entries)
		if err != nil {
			return nil, nil, err
		}
		for i, rec := range g.recs {
			rows[i].PrevHash = rec.AuditHead
			if rows[i].RowHash, err = auditproof.Hash(rows[i]); err != nil {
				return nil, nil, err
			}
		}
		after, err := tx.applyEdge(ctx, d, g.from, g.to, g.recs, rows)
		if err != nil {
			return nil, nil, err
		}
		kept := rows[:0]
		for i, rec := range g.recs {
			a, ok := after[rec.ID]
			if !ok {
				// Changed since it was read: only possible when the
				// caller did not lock it; report the status it has now.
				cur, err := tx.getRec(ctx, rec.ID)
				if err != nil {
					return nil, nil, err
				}
				refused[rec.ID] = review.StatusConflict("change", cur.Status)
				continue
			}
			kept = append(kept, rows[i])
			out = append(out, decided{before: rec, after: a, auditID: rows[i].AuditID})
			if g.to == review.StatusApproved {
				approved = append(approved, rec.ID)
			}
		}
		if err := tx.insertAudit(ctx, kept); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.enqueueDeliveries(ctx, approved, tx.s.undoWindow); err != nil {
		return nil, nil, err
	}
	queued := review.DeliveryQueued
	if tx.s.undoWindow > 0 {
		queued = review.DeliveryScheduled
	}
	afters := make([]*review.Recommendation, len(out))
	for i, x := range out {
		if x.after.Status == review.StatusApproved {
			x.after.DeliveryStatus = &queued
		}
		afters[i] = x.after
	}
	if err := attachTags(ctx, tx.Query, afters); err != nil {
		return nil, nil, err
	}
	return out, refused, nil
}

// decideOne is decide for a single item: a refusal is the error.
func (tx *Tx) decideOne(ctx context.Context, d decision, rec *review.Recommendation) (decided, error) {
	out, refused, err := tx.decide(ctx, d, []*review.Recommendation{rec})
	if err != nil {
		return decided{}, err
	}
	if err := refused[rec.ID]; err != nil {
		return decided{}, err
	}
	return out[0], nil
}

// applyEdge runs the conditional UPDATE for recs, all in status from
// (setting each one's chain head to the hash of audit[i], its audit row), and
// returns the rows it changed as they now are (RETURNING: no second read),
// their deliveries as they were. A single item must also still have the
// version it was read at.
func (tx *Tx) applyEdge(ctx context.Context, d decision, from, to review.Status, recs []*review.Recommendation, audit []auditproof.Row) (map[string]*review.Recommendation, error) {
	args := append([]any{string(to)}, d.args...)
	set := "status = ?"
	if d.set != "" {
		set += ", " + d.set
	}
	// Each item's chain head becomes its new audit row's hash.
	if len(recs) == 1 {
		set += ", audit_head = ?"
		args = append(args, audit[0].RowHash)
	} else {
		set += ", audit_head = CASE recommendation_id"
		for i, r := range recs {
			set += " WHEN ? THEN ?"
			args = append(args, r.ID, audit[i].RowHash)
		}
		set += " END"
	}
	// The right-hand sides see the row as it was: previous_status = status
	// keeps the status being left.
	switch {
	case review.IsDecision(d.edge):
		set += ", previous_status = status, status_changed_at = ?, undo_expires_at = ?"
		args = append(args, tx.s.ts(tx.Now), tx.s.tsp(tx.s.undoDeadline(tx.Now)))
	case d.edge == review.EdgeUndo:
		set += ", previous_status = status, status_changed_at = ?, undo_expires_at = NULL"
		args = append(args, tx.s.ts(tx.Now))
	}
	args = append(args, tx.s.ts(tx.Now), string(from))
	where := "status = ? AND "
	if len(recs) == 1 {
		where += "recommendation_id = ? AND version = ?"
		args = append(args, recs[0].ID, recs[0].Version)
	} else {
		// The primary keys must drive this UPDATE: SQLite otherwise walked
		// the status index through every pending row (546,147 at the
		// benchmark's size), a second per bulk request of 100.
		where = tx.s.d.unindexed("status") + " = ? AND recommendation_id IN (" + placeholders(len(recs)) + ")"
		for _, r := range recs {
			args = append(args, r.ID)
		}
	}
	rows, err := tx.Query(ctx, `UPDATE recommendations SET `+set+`, updated_at = ?, version = version + 1, claimed_by = NULL, claim_expires_at = NULL
WHERE `+where+` RETURNING `+recReturning, args...)
	if err != nil {
		return nil, fmt.Errorf("update recommendation: %w", err)
	}
	defer rows.Close()
	before := make(map[string]*review.Recommendation, len(recs))
	for _, r := range recs {
		before[r.ID] = r
	}
	out := make(map[string]*review.Recommendation, len(recs))
	for rows.Next() {
		a, err := scanRec(rows)
		if err != nil {
			return nil, fmt.Errorf("update recommendation: %w", err)
		}
		if b := before[a.ID]; b != nil {
			a.DeliveryStatus, a.DeliveredAt = b.DeliveryStatus, b.DeliveredAt
		}
		out[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update recommendation: %w", err)
	}
	return out, nil
}

// AuditRecord is an audit row to write (AuditEntry is one as read).
type AuditRecord struct {
	OperatorID       string
	Action           string
	RecommendationID string // "" for an action about no recommendation
	Metadata         map[string]any
}

// writeAudit is the one function that writes audit rows: every action
// comes through it (decide through its two halves, newAuditRows and
// insertAudit, moving the chain heads in its own UPDATE), in the
// transaction of the change it records. Each row is linked into its
// subject's hash chain here (auditchain.go), so every write path is
// chained without knowing it. It returns the new rows' ids in order.
func (tx *Tx) writeAudit(ctx context.Context, entries []AuditRecord) ([]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	rows, err := tx.newAuditRows(entries)
	if err != nil {
		return nil, err
	}
	if err := tx.chainAudit(ctx, rows); err != nil {
		return nil, err
	}
	if err := tx.insertAudit(ctx, rows); err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.AuditID
	}
	return ids, nil
}

// newAuditRows makes the rows for entries, with new ids and tx's time,
// not yet chained.
func (tx *Tx) newAuditRows(entries []AuditRecord) ([]auditproof.Row, error) {
	rows := make([]auditproof.Row, len(entries))
	for i, e := range entries {
		if e.Metadata == nil {
			e.Metadata = map[string]any{}
		}
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("audit metadata: %w", err)
		}
		rows[i] = auditproof.Row{AuditID: NewID(), OperatorID: e.OperatorID, Action: e.Action,
			RecommendationID: e.RecommendationID, Metadata: b, Timestamp: tx.Now}
	}
	return rows, nil
}

// insertAudit inserts chained rows.
func (tx *Tx) insertAudit(ctx context.Context, rows []auditproof.Row) error {
	if len(rows) == 0 {
		return nil
	}
	now := tx.s.ts(tx.Now)
	_, err := insertMany(ctx, tx, `INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp, prev_hash, row_hash) VALUES `, 8, len(rows),
		func(i int, a []any) []any {
			r := rows[i]
			return append(a, r.AuditID, r.OperatorID, r.Action, nullIfEmpty(r.RecommendationID), jsonText(r.Metadata), now, r.PrevHash, r.RowHash)
		}, "")
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// audit writes one audit row and returns its id.
func (tx *Tx) audit(ctx context.Context, e AuditRecord) (string, error) {
	ids, err := tx.writeAudit(ctx, []AuditRecord{e})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// refusalReason is the stable bulk code for a refusal from decide.
func refusalReason(err error) [2]string {
	var e *review.Error
	if errors.As(err, &e) {
		if e.Reason != "" {
			return [2]string{e.Reason, strings.TrimPrefix(e.Message, e.Reason+": ")}
		}
		if e.Code == review.EConflict && e.CurrentStatus != "" {
			return [2]string{review.ReasonNotPending, "recommendation is " + string(e.CurrentStatus)}
		}
	}
	return [2]string{review.ReasonNotPending, err.Error()}
}
