package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spendsense/operator-api/internal/review"
)

// decisionActions are the audit actions of decisions that can be undone.
const decisionActions = `'approve', 'reject', 'flag', 'resolve_flag'`

// Undo takes back the last decision on a recommendation (CONTRACT.md,
// Undo): the item returns to its previous status, a flag the decision
// opened is withdrawn, a flag it closed is open again, and an approval's
// scheduled delivery is cancelled — all in one transaction with an undo
// audit row, through decide like every other status change. An approval
// whose delivery has already started cannot be undone: the worker and the
// undo both change the delivery only from scheduled, so exactly one wins.
func (s *Store) Undo(ctx context.Context, in review.UndoInput) (review.UndoResult, error) {
	var res review.UndoResult
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		// The decision being undone: the newest decision row (notes, tags
		// and edits are not decisions).
		var auditID, decidedBy, action string
		var metaRaw []byte
		err = tx.QueryRow(ctx, `SELECT audit_id, operator_id, action, metadata FROM operator_audit_log
WHERE recommendation_id = ? AND action IN (`+decisionActions+`) ORDER BY timestamp DESC, audit_id DESC LIMIT 1`, rec.ID).
			Scan(&auditID, &decidedBy, &action, &metaRaw)
		if errors.Is(err, errNotFound) {
			return &review.Error{Code: review.EConflict, CurrentStatus: rec.Status, Message: "there is no decision to undo on this recommendation"}
		}
		if err != nil {
			return fmt.Errorf("read decision: %w", err)
		}
		restored, err := review.CheckUndo(rec, in.Actor.ID, in.Actor.Role, decidedBy, tx.Now)
		if err != nil {
			return err
		}
		var meta struct {
			FlagID string `json:"flag_id"`
		}
		_ = json.Unmarshal(metaRaw, &meta) // written by writeAudit: always an object

		// What the decision did besides the status, taken back.
		set, args := "", []any{}
		cancelled := false
		switch rec.Status {
		case review.StatusApproved:
			if err := tx.cancelDelivery(ctx, rec); err != nil {
				return err
			}
			set, cancelled = "approved_by = NULL, approved_at = NULL", true
		case review.StatusRejected:
			set = "rejected_by = NULL, rejected_at = NULL"
		}
		switch {
		case action == review.ActionFlag:
			// The flag this decision opened is withdrawn.
			if _, err := tx.Exec(ctx, `DELETE FROM recommendation_flags WHERE flag_id = ? AND resolved = ?`, meta.FlagID, false); err != nil {
				return fmt.Errorf("withdraw flag: %w", err)
			}
		case action == review.ActionResolveFlag:
			// The flag this resolution closed is open again.
			if _, err := tx.Exec(ctx, `UPDATE recommendation_flags SET resolved = ?, resolved_by = NULL, resolved_at = NULL, resolution = NULL, resolution_notes = NULL
WHERE flag_id = ? AND resolved = ?`, false, meta.FlagID, true); err != nil {
				return fmt.Errorf("reopen flag: %w", err)
			}
		}
		d, err := tx.decideOne(ctx, decision{
			edge: review.EdgeUndo, actor: in.Actor, set: set, args: args, audit: review.ActionUndo,
			meta: func(rec *review.Recommendation) map[string]any {
				return map[string]any{"reverted_from": string(rec.Status), "restored_status": string(restored),
					"undone_audit_id": auditID, "undone_action": action, "undone_by_author": decidedBy == in.Actor.ID}
			},
		}, rec)
		if err != nil {
			return err
		}
		if cancelled {
			c := review.DeliveryCancelled
			d.after.DeliveryStatus = &c
		}
		res = review.UndoResult{Recommendation: d.after, Restored: restored, RevertedFrom: rec.Status, UndoneAuditID: auditID, UndoneAt: tx.Now}
		return tx.recordIdem(ctx, res)
	})
	return res, err
}

// cancelDelivery cancels the scheduled delivery of an approval being
// undone, and its job. A delivery that is no longer scheduled has started
// (or was never waiting): the undo is refused.
func (tx *Tx) cancelDelivery(ctx context.Context, rec *review.Recommendation) error {
	r, err := tx.Exec(ctx, `UPDATE deliveries SET status = ?, updated_at = ? WHERE recommendation_id = ? AND status = ?`,
		review.DeliveryCancelled, tx.s.ts(tx.Now), rec.ID, review.DeliveryScheduled)
	if err != nil {
		return fmt.Errorf("cancel delivery: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return &review.Error{Code: review.EConflict, CurrentStatus: rec.Status,
			Message: "the delivery of this approval has already started; it can no longer be undone"}
	}
	if tx.s.queue.Cancel == nil {
		return errNoDeliveryQueue
	}
	return tx.s.queue.Cancel(tx.Context(ctx), tx, []string{rec.ID})
}

// StartDelivery moves a scheduled delivery to queued as its worker begins,
// once its undo window is over. It reports whether this call started it;
// false means it was not scheduled (an undo cancelled it first, or it had
// already started). Undo changes a delivery only from scheduled too, so of
// an undo and a start at the same moment exactly one wins.
func (s *Store) StartDelivery(ctx context.Context, recID string) (bool, error) {
	var started bool
	err := s.WithTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE deliveries SET status = ?, updated_at = ? WHERE recommendation_id = ? AND status = ?`,
			review.DeliveryQueued, s.ts(tx.Now), recID, review.DeliveryScheduled)
		if err != nil {
			return fmt.Errorf("start delivery: %w", err)
		}
		n, err := r.RowsAffected()
		started = n == 1
		return err
	})
	return started, err
}
