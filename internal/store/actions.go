package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spendsense/operator-api/internal/review"
)

// EnqueueFunc inserts the delivery jobs of an approval inside the approving
// transaction, to run at at (now, when zero).
type EnqueueFunc func(ctx context.Context, tx *Tx, recommendationIDs []string, at time.Time) error

// CancelFunc cancels, inside the undoing transaction, the delivery jobs of
// approvals being undone.
type CancelFunc func(ctx context.Context, tx *Tx, recommendationIDs []string) error

// DeliveryQueue is how approvals and undos reach the job queue, inside
// their own transactions. The delivery package provides one
// (delivery.Service.Queue); the program wires it with SetDeliveryQueue.
type DeliveryQueue struct {
	Enqueue EnqueueFunc
	Cancel  CancelFunc
}

// NoDeliveryJobs is the queue of a program that runs none: approvals write
// their deliveries rows but no job (a delivery service started later
// finds them as gaps and enqueues them). Tests and tools that want no
// queue say so with it.
var NoDeliveryJobs = DeliveryQueue{
	Enqueue: func(context.Context, *Tx, []string, time.Time) error { return nil },
	Cancel:  func(context.Context, *Tx, []string) error { return nil },
}

// errNoDeliveryQueue is an approval or undo in a store nobody wired a
// queue into: it fails rather than commit an approval without its job.
var errNoDeliveryQueue = errors.New("store: no delivery queue (wire one with SetDeliveryQueue, or NoDeliveryJobs)")

// SetDeliveryQueue wires the queue approvals and undos use; both of its
// functions are required.
func (s *Store) SetDeliveryQueue(q DeliveryQueue) error {
	if q.Enqueue == nil || q.Cancel == nil {
		return errors.New("store: a delivery queue needs both Enqueue and Cancel")
	}
	s.queue = q
	return nil
}

// NewID returns a time-ordered unique id (UUIDv7): unique under any
// concurrency, unlike the seed's ids built from Unix seconds.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// lockForAction reads and locks the recommendation an action is about, and
// applies If-Match and other operators' claims to it.
func (tx *Tx) lockForAction(ctx context.Context, id string, actor review.Actor, pre review.Precondition) (*review.Recommendation, error) {
	rec, err := tx.getRec(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := pre.Check(rec, actor, tx.Now); err != nil {
		return nil, err
	}
	return rec, nil
}

// recReturning is recColumns for the RETURNING clause of an UPDATE of
// recommendations: the same columns in the same order, for scanRec, with
// the delivery's two (which an UPDATE cannot join) left NULL.
var recReturning = strings.NewReplacer("r.", "", "d.status", "NULL", "d.delivered_at", "NULL").Replace(recColumns)

// enqueueDeliveries gives each id a deliveries row and its job, to be
// sent after delay: an approval waits out its undo window (status
// scheduled); with no delay it is queued at once.
func (tx *Tx) enqueueDeliveries(ctx context.Context, ids []string, delay time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	now := tx.s.ts(tx.Now)
	status, at := review.DeliveryQueued, time.Time{}
	if delay > 0 {
		status, at = review.DeliveryScheduled, tx.Now.Add(delay)
	}
	_, err := insertMany(ctx, tx, `INSERT INTO deliveries (recommendation_id, status, attempts, queued_at, updated_at) VALUES `, 5, len(ids),
		func(i int, args []any) []any {
			return append(args, ids[i], status, 0, now, now)
		}, ` ON CONFLICT (recommendation_id) DO UPDATE SET status = excluded.status, last_error = NULL, failed_at = NULL, queued_at = excluded.queued_at, updated_at = excluded.updated_at`)
	if err != nil {
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	if tx.s.queue.Enqueue == nil {
		return errNoDeliveryQueue
	}
	return tx.s.queue.Enqueue(tx.Context(ctx), tx, ids, at)
}

// Approve approves one pending recommendation, audits it and enqueues its
// delivery, all in one transaction.
func (s *Store) Approve(ctx context.Context, in review.ApproveInput) (*review.Recommendation, error) {
	var out *review.Recommendation
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		overridden := in.Override && !rec.Guardrails.All()
		d, err := tx.decideOne(ctx, decision{
			edge: review.EdgeApprove, actor: in.Actor,
			approval: review.Approval{Role: in.Actor.Role, Notes: in.Notes, Override: in.Override},
			set:      `approved_by = ?, approved_at = ?, operator_notes = COALESCE(?, operator_notes)`,
			args:     []any{in.Actor.ID, s.ts(tx.Now), nullIfEmpty(in.Notes)},
			audit:    review.ActionApprove,
			meta: func(rec *review.Recommendation) map[string]any {
				meta := map[string]any{"notes": in.Notes, "from_status": string(rec.Status)}
				if overridden {
					meta["override_guardrails"] = true
					meta["guardrails"] = rec.Guardrails
				}
				return meta
			},
		}, rec)
		if err != nil {
			return err
		}
		out = d.after
		return tx.recordIdem(ctx, out) // the keyed response renders the approved recommendation
	})
	return out, err
}

// Reject rejects one pending recommendation and audits it.
func (s *Store) Reject(ctx context.Context, in review.RejectInput) (*review.Recommendation, error) {
	var out *review.Recommendation
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		d, err := tx.decideOne(ctx, decision{
			edge: review.EdgeReject, actor: in.Actor,
			set:   `rejected_by = ?, rejected_at = ?, operator_notes = ?`,
			args:  []any{in.Actor.ID, s.ts(tx.Now), in.Reason},
			audit: review.ActionReject,
			meta: func(rec *review.Recommendation) map[string]any {
				return map[string]any{"reason": in.Reason, "from_status": string(rec.Status)}
			},
		}, rec)
		if err != nil {
			return err
		}
		out = d.after
		return tx.recordIdem(ctx, out)
	})
	return out, err
}

// Modify edits a pending or flagged recommendation. Fields set to their
// current value are not changes; an edit that changes nothing writes nothing
// (no version bump, no audit row) and returns an empty change set.
func (s *Store) Modify(ctx context.Context, in review.ModifyInput) (*review.Recommendation, map[string]review.Change, error) {
	var out *review.Recommendation
	changes := map[string]review.Change{}
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		if err := review.CheckModify(rec); err != nil {
			return err // also when nothing would change
		}
		set := `modified_by = ?, modified_at = ?`
		args := []any{in.Actor.ID, s.ts(tx.Now)}
		for _, f := range []struct {
			name     string
			cur, new *string
		}{{"title", &rec.Title, in.Title}, {"rationale", &rec.Rationale, in.Rationale}, {"priority", &rec.Priority, in.Priority}} {
			if f.new != nil && *f.new != *f.cur {
				changes[f.name] = review.Change{From: *f.cur, To: *f.new}
				set += ", " + f.name + " = ?"
				args = append(args, *f.new)
			}
		}
		if len(changes) == 0 {
			out = rec
			if err := attachTags(ctx, tx.Query, []*review.Recommendation{rec}); err != nil {
				return err
			}
			return tx.recordIdem(ctx, out, changes)
		}
		d, err := tx.decideOne(ctx, decision{
			edge: review.EdgeModify, actor: in.Actor, set: set, args: args, audit: review.ActionModify,
			meta: func(*review.Recommendation) map[string]any { return map[string]any{"modifications": changes} },
		}, rec)
		if err != nil {
			return err
		}
		out = d.after
		return tx.recordIdem(ctx, out, changes) // the recommendation and its changes
	})
	return out, changes, err
}

// Flag moves a pending recommendation to flagged and opens a flag on it.
func (s *Store) Flag(ctx context.Context, in review.FlagInput) (*review.Recommendation, string, error) {
	var out *review.Recommendation
	flagID := NewID()
	err := s.WithTx(ctx, func(tx *Tx) error {
		rec, err := tx.lockForAction(ctx, in.ID, in.Actor, in.Pre)
		if err != nil {
			return err
		}
		d, err := tx.decideOne(ctx, decision{
			edge: review.EdgeFlag, actor: in.Actor, audit: review.ActionFlag,
			meta: func(*review.Recommendation) map[string]any {
				return map[string]any{"reason": in.Reason, "flag_id": flagID}
			},
		}, rec)
		if err != nil {
			return err
		}
		out = d.after
		if _, err := tx.Exec(ctx, `INSERT INTO recommendation_flags (flag_id, recommendation_id, flagged_by, flag_reason, resolved, flagged_at)
VALUES (?, ?, ?, ?, ?, ?)`, flagID, rec.ID, in.Actor.ID, in.Reason, false, s.ts(tx.Now)); err != nil {
			return fmt.Errorf("insert flag: %w", err)
		}
		return tx.recordIdem(ctx, out, flagID) // the recommendation and the flag's id
	})
	return out, flagID, err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with maps of plain values
	}
	return b
}
