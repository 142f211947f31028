package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spendsense/operator-api/internal/review"
)

// Actor is the operator acting, always taken from a verified token.
type Actor struct {
	ID   string
	Role review.Role
}

// Precondition is what every single-item action may carry.
type Precondition struct {
	// IfMatch, when set, is the version the client last saw (If-Match).
	IfMatch *int64
}

// EnqueueFunc inserts the delivery job for an approval inside the approving
// transaction. The delivery package provides it; nil means no worker queue.
type EnqueueFunc func(ctx context.Context, tx *Tx, recommendationIDs []string) error

// SetEnqueue installs the delivery enqueuer.
func (s *Store) SetEnqueue(fn EnqueueFunc) { s.enqueue = fn }

// NewID returns a time-ordered unique id (UUIDv7): unique under any
// concurrency, unlike the seed's ids built from Unix seconds.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// insertAudit writes one audit row.
func (tx *Tx) insertAudit(ctx context.Context, operatorID, action, recID string, meta map[string]any) (string, error) {
	id := NewID()
	b, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp)
VALUES (?, ?, ?, ?, ?, ?)`, id, operatorID, action, recID, jsonText(b), tx.s.ts(tx.Now))
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return id, nil
}

// checkPrecondition applies If-Match and claims to a locked row.
func (tx *Tx) checkPrecondition(rec *review.Recommendation, actor Actor, pre Precondition) error {
	if pre.IfMatch != nil && *pre.IfMatch != rec.Version {
		return review.Errorf(review.EPrecondition,
			"recommendation %q has changed: If-Match is version %d, current version is %d", rec.ID, *pre.IfMatch, rec.Version)
	}
	if rec.HeldByOther(actor.ID, tx.Now) {
		return &review.Error{Code: review.EConflict, CurrentStatus: rec.Status,
			Message: fmt.Sprintf("recommendation %q is claimed by %s until %s", rec.ID, *rec.ClaimedBy, rec.ClaimExpiresAt.Format(time.RFC3339))}
	}
	return nil
}

// lockForAction reads and locks the recommendation an action is about, and
// applies If-Match and other operators' claims to it.
func (tx *Tx) lockForAction(ctx context.Context, id string, actor Actor, pre Precondition) (*review.Recommendation, error) {
	rec, err := tx.getRec(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.checkPrecondition(rec, actor, pre); err != nil {
		return nil, err
	}
	return rec, nil
}

// recReturning is recColumns for the RETURNING clause of an UPDATE of
// recommendations: the same columns in the same order, for scanRec, with
// the delivery's two (which an UPDATE cannot join) left NULL.
var recReturning = strings.NewReplacer("r.", "", "d.status", "NULL", "d.delivered_at", "NULL").Replace(recColumns)

// transition moves a locked row from its current status, bumping its
// version, and returns the row as it now is (RETURNING: no second read),
// its delivery as it was. The WHERE on status and version makes the change
// conditional: if another transaction got there first, nothing changes and
// the caller sees a conflict.
func (tx *Tx) transition(ctx context.Context, rec *review.Recommendation, set string, args ...any) (*review.Recommendation, error) {
	q := `UPDATE recommendations SET ` + set + `, updated_at = ?, version = version + 1, claimed_by = NULL, claim_expires_at = NULL
WHERE recommendation_id = ? AND status = ? AND version = ? RETURNING ` + recReturning
	args = append(args, tx.s.ts(tx.Now), rec.ID, string(rec.Status), rec.Version)
	after, err := scanRec(tx.QueryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := tx.getRec(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		return nil, review.StatusConflict("change", cur.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("update recommendation: %w", err)
	}
	after.DeliveryStatus, after.DeliveredAt = rec.DeliveryStatus, rec.DeliveredAt
	return after, nil
}

// approveRows marks ids delivered-pending: a deliveries row each, and the job.
func (tx *Tx) enqueueDeliveries(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := tx.s.ts(tx.Now)
	err := insertMany(ctx, tx, `INSERT INTO deliveries (recommendation_id, status, attempts, queued_at, updated_at) VALUES `, 5, len(ids),
		func(i int, args []any) []any {
			return append(args, ids[i], review.DeliveryQueued, 0, now, now)
		}, ` ON CONFLICT (recommendation_id) DO UPDATE SET status = 'queued', last_error = NULL, failed_at = NULL, updated_at = excluded.updated_at`)
	if err != nil {
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	if tx.s.enqueue != nil {
		return tx.s.enqueue(tx.Context(ctx), tx, ids)
	}
	return nil
}

// ApproveInput is a single approval.
type ApproveInput struct {
	ID       string
	Actor    Actor
	Notes    string
	Override bool
	Pre      Precondition
}

// Approve approves one pending recommendation, audits it and enqueues its
// delivery, all in one transaction.
func (s *Store) Approve(ctx context.Context, in ApproveInput) (*review.Recommendation, error) {
	var out *review.Recommendation
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		a := review.Approval{Role: in.Actor.Role, Notes: in.Notes, Override: in.Override}
		if err := review.CheckApprove(rec, a); err != nil {
			return err
		}
		overridden := in.Override && !rec.Guardrails.All()
		out, err = tx.transition(ctx, rec, `status = 'approved', approved_by = ?, approved_at = ?, operator_notes = COALESCE(?, operator_notes)`,
			in.Actor.ID, s.ts(tx.Now), nullIfEmpty(in.Notes))
		if err != nil {
			return err
		}
		meta := map[string]any{"notes": in.Notes, "from_status": string(rec.Status)}
		if overridden {
			meta["override_guardrails"] = true
			meta["guardrails"] = rec.Guardrails
		}
		if _, err := tx.insertAudit(ctx, in.Actor.ID, review.ActionApprove, rec.ID, meta); err != nil {
			return err
		}
		if err := tx.enqueueDeliveries(ctx, []string{rec.ID}); err != nil {
			return err
		}
		queued := review.DeliveryQueued
		out.DeliveryStatus = &queued
		return nil
	})
	return out, err
}

// RejectInput is a rejection.
type RejectInput struct {
	ID     string
	Actor  Actor
	Reason string
	Pre    Precondition
}

// Reject rejects one pending recommendation and audits it.
func (s *Store) Reject(ctx context.Context, in RejectInput) (*review.Recommendation, error) {
	var out *review.Recommendation
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		if err := review.CheckReject(rec); err != nil {
			return err
		}
		out, err = tx.transition(ctx, rec, `status = 'rejected', rejected_by = ?, rejected_at = ?, operator_notes = ?`,
			in.Actor.ID, s.ts(tx.Now), in.Reason)
		if err != nil {
			return err
		}
		_, err = tx.insertAudit(ctx, in.Actor.ID, review.ActionReject, rec.ID, map[string]any{"reason": in.Reason, "from_status": string(rec.Status)})
		return err
	})
	return out, err
}

// Change is one edited field's before and after.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ModifyInput is an edit; nil fields are left alone.
type ModifyInput struct {
	ID        string
	Actor     Actor
	Title     *string
	Rationale *string
	Priority  *string
	Pre       Precondition
}

// Modify edits a pending or flagged recommendation. Fields set to their
// current value are not changes; an edit that changes nothing writes nothing
// (no version bump, no audit row) and returns an empty change set.
func (s *Store) Modify(ctx context.Context, in ModifyInput) (*review.Recommendation, map[string]Change, error) {
	var out *review.Recommendation
	changes := map[string]Change{}
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		if err := review.CheckModify(rec); err != nil {
			return err
		}
		set := `modified_by = ?, modified_at = ?`
		args := []any{in.Actor.ID, s.ts(tx.Now)}
		for _, f := range []struct {
			name     string
			cur, new *string
		}{{"title", &rec.Title, in.Title}, {"rationale", &rec.Rationale, in.Rationale}, {"priority", &rec.Priority, in.Priority}} {
			if f.new != nil && *f.new != *f.cur {
				changes[f.name] = Change{From: *f.cur, To: *f.new}
				set += ", " + f.name + " = ?"
				args = append(args, *f.new)
			}
		}
		if len(changes) == 0 {
			out = rec
			return nil
		}
		if out, err = tx.transition(ctx, rec, set, args...); err != nil {
			return err
		}
		_, err = tx.insertAudit(ctx, in.Actor.ID, review.ActionModify, rec.ID, map[string]any{"modifications": changes})
		return err
	})
	return out, changes, err
}

// FlagInput is a flag for senior review.
type FlagInput struct {
	ID     string
	Actor  Actor
	Reason string
	Pre    Precondition
}

// Flag moves a pending recommendation to flagged and opens a flag on it.
func (s *Store) Flag(ctx context.Context, in FlagInput) (*review.Recommendation, string, error) {
	var out *review.Recommendation
	flagID := NewID()
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		if err := review.CheckFlag(rec); err != nil {
			return err
		}
		if out, err = tx.transition(ctx, rec, `status = 'flagged'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recommendation_flags (flag_id, recommendation_id, flagged_by, flag_reason, resolved, flagged_at)
VALUES (?, ?, ?, ?, ?, ?)`, flagID, rec.ID, in.Actor.ID, in.Reason, false, s.ts(tx.Now)); err != nil {
			return fmt.Errorf("insert flag: %w", err)
		}
		_, err = tx.insertAudit(ctx, in.Actor.ID, review.ActionFlag, rec.ID, map[string]any{"reason": in.Reason, "flag_id": flagID})
		return err
	})
	return out, flagID, err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertMany runs one multi-row INSERT for n rows of width columns each,
// splitting into several statements to stay under both engines' parameter
// limits.
func insertMany(ctx context.Context, tx *Tx, head string, width, n int, row func(i int, args []any) []any, tail string) error {
	const maxParams = 30000
	per := max(1, maxParams/width)
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		args := make([]any, 0, (end-start)*width)
		var b []byte
		b = append(b, head...)
		for i := start; i < end; i++ {
			if i > start {
				b = append(b, ',')
			}
			b = append(b, '(')
			for c := 0; c < width; c++ {
				if c > 0 {
					b = append(b, ',')
				}
				b = append(b, '?')
			}
			b = append(b, ')')
			args = row(i, args)
		}
		b = append(b, tail...)
		if _, err := tx.Exec(ctx, string(b), args...); err != nil {
			return err
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with maps of plain values
	}
	return b
}
