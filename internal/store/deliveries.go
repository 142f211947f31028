package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Delivery is the progress of one approved recommendation towards the
// notification system.
type Delivery struct {
	RecommendationID string
	Status           string // scheduled, queued, delivered, failed or cancelled
	Attempts         int
	LastError        *string
	QueuedAt         time.Time
	DeliveredAt      *time.Time
	FailedAt         *time.Time
	UpdatedAt        time.Time
}

// ListDeliveries returns deliveries, most recently updated first; status ""
// means all.
func (s *Store) ListDeliveries(ctx context.Context, status string, limit int) ([]Delivery, error) {
	q := `SELECT recommendation_id, status, attempts, last_error, queued_at, delivered_at, failed_at, updated_at FROM deliveries`
	var args []any
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, status)
	}
	q += ` ORDER BY updated_at DESC, recommendation_id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.reads().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var lastErr sql.NullString
		var queued, updated Time
		var delivered, failed NullTime
		if err := rows.Scan(&d.RecommendationID, &d.Status, &d.Attempts, &lastErr, &queued, &delivered, &failed, &updated); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		d.LastError, d.QueuedAt, d.DeliveredAt, d.FailedAt, d.UpdatedAt = strPtr(lastErr), queued.Time, delivered.Ptr(), failed.Ptr(), updated.Time
		out = append(out, d)
	}
	return out, rows.Err()
}

// RetryDelivery re-enqueues a failed delivery, audited as retry_delivery.
func (s *Store) RetryDelivery(ctx context.Context, actor review.Actor, recID string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE recommendation_id = ?`+s.d.forUpdate(), recID).Scan(&status)
		if errors.Is(err, errNotFound) {
			return review.Errorf(review.ENotFound, "no delivery for recommendation %q", recID)
		}
		if err != nil {
			return fmt.Errorf("read delivery: %w", err)
		}
		if status != review.DeliveryFailed {
			return review.Errorf(review.EConflict, "delivery of %q is %s; only failed deliveries can be retried", recID, status)
		}
		if err := tx.enqueueDeliveries(ctx, []string{recID}, 0); err != nil {
			return err
		}
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionRetryDelivery, RecommendationID: recID,
			Metadata: map[string]any{"previous_status": status}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx)
	})
}

// QueueDepthResult is what is waiting, for metrics.
type QueueDepthResult struct {
	Review     map[string]int64
	Deliveries map[string]int64
}

// QueueDepth counts pending and flagged recommendations and deliveries by status.
func (s *Store) QueueDepth(ctx context.Context) (QueueDepthResult, error) {
	res := QueueDepthResult{Review: map[string]int64{}, Deliveries: map[string]int64{}}
	var pending, flagged int64
	err := s.reads().QueryRow(ctx, `SELECT
 (SELECT COUNT(*) FROM recommendations WHERE status = 'pending'),
 (SELECT COUNT(*) FROM recommendations WHERE status = 'flagged')`).Scan(&pending, &flagged)
	if err != nil {
		return res, err
	}
	res.Review["pending"], res.Review["flagged"] = pending, flagged
	for _, st := range []string{review.DeliveryScheduled, review.DeliveryQueued, review.DeliveryDelivered, review.DeliveryFailed, review.DeliveryCancelled} {
		var n int64
		if err := s.reads().QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE status = ?`, st).Scan(&n); err != nil {
			return res, err
		}
		res.Deliveries[st] = n
	}
	return res, nil
}

// DeliveryJobKind is the River job kind that delivers one approved
// recommendation; its args are {"recommendation_id": "…"}. It lives here so
// the invariant check can find a delivery's job without importing River.
const DeliveryJobKind = "deliver_recommendation"

// liveJobStates are the River job states in which a job will still run
// without anyone's help.
const liveJobStates = `'available', 'running', 'retryable', 'scheduled'`

// maxLastError bounds the error text kept on a delivery.
const maxLastError = 1000

// GetDelivery returns the delivery of one recommendation.
func (s *Store) GetDelivery(ctx context.Context, recID string) (*Delivery, error) {
	var d Delivery
	var lastErr sql.NullString
	var queued, updated Time
	var delivered, failed NullTime
	err := s.reads().QueryRow(ctx, `SELECT recommendation_id, status, attempts, last_error, queued_at, delivered_at, failed_at, updated_at
FROM deliveries WHERE recommendation_id = ?`, recID).
		Scan(&d.RecommendationID, &d.Status, &d.Attempts, &lastErr, &queued, &delivered, &failed, &updated)
	if errors.Is(err, errNotFound) {
		return nil, review.Errorf(review.ENotFound, "no delivery for recommendation %q", recID)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery: %w", err)
	}
	d.LastError, d.QueuedAt, d.DeliveredAt, d.FailedAt, d.UpdatedAt = strPtr(lastErr), queued.Time, delivered.Ptr(), failed.Ptr(), updated.Time
	return &d, nil
}

// markDelivery applies one worker outcome to a queued delivery in its own
// short transaction. It reports whether the delivery was still queued (and
// so changed); a delivery that is not queued is left alone.
func (s *Store) markDelivery(ctx context.Context, recID, set string, args ...any) (bool, error) {
	var changed bool
	err := s.WithTx(ctx, func(tx *Tx) error {
		args = append(args, s.ts(tx.Now), recID)
		res, err := tx.Exec(ctx, `UPDATE deliveries SET attempts = attempts + 1, `+set+`, updated_at = ?
WHERE recommendation_id = ? AND status = 'queued'`, args...)
		if err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		n, err := res.RowsAffected()
		changed = n == 1
		return err
	})
	return changed, err
}

// MarkDelivered records a successful attempt: the delivery becomes
// delivered, with its delivery time.
func (s *Store) MarkDelivered(ctx context.Context, recID string) (bool, error) {
	return s.markDelivery(ctx, recID, `status = 'delivered', last_error = NULL, delivered_at = ?`, s.ts(s.Now()))
}

// MarkDeliveryAttemptFailed records a failed attempt that will be retried:
// the delivery stays queued with its attempts and last error.
func (s *Store) MarkDeliveryAttemptFailed(ctx context.Context, recID, lastError string) (bool, error) {
	return s.markDelivery(ctx, recID, `last_error = ?`, truncate(lastError, maxLastError))
}

// MarkDeliveryFailed records the final failed attempt (a permanent error, or
// the last attempt): the delivery becomes failed. An admin may retry it.
func (s *Store) MarkDeliveryFailed(ctx context.Context, recID, lastError string) (bool, error) {
	return s.markDelivery(ctx, recID, `status = 'failed', last_error = ?, failed_at = ?`, truncate(lastError, maxLastError), s.ts(s.Now()))
}

// deliveryJobGapsQuery finds queued deliveries with no River job that will
// still run: an approval whose delivery can never happen.
func (s *Store) deliveryJobGapsQuery() string {
	return `SELECT d.recommendation_id FROM deliveries d WHERE d.status IN ('scheduled', 'queued') AND d.recommendation_id NOT IN (
 SELECT ` + s.d.jsonField("j.args", "recommendation_id") + ` FROM river_job j
 WHERE j.kind = ? AND j.state IN (` + liveJobStates + `) AND ` + s.d.jsonField("j.args", "recommendation_id") + ` IS NOT NULL)
ORDER BY d.recommendation_id`
}

// DeliveryJobGaps returns the recommendation ids of queued deliveries that
// have no River job in a state that will still run (available, running,
// retryable, scheduled). The approving transaction inserts both, so
// in a consistent database the list is empty; `spendsense check` reports it.
// (Rows written without the queue, by a seed or by a database from before
// River, show up here too: RequeueDeliveryGaps repairs them.)
func (s *Store) DeliveryJobGaps(ctx context.Context) ([]string, error) {
	rows, err := s.reads().Query(ctx, s.deliveryJobGapsQuery(), DeliveryJobKind)
	if err != nil {
		return nil, fmt.Errorf("delivery job gaps: %w", err)
	}
	return scanIDs(rows)
}

// RequeueDeliveryGaps inserts, in one transaction, a delivery job with
// enqueue for every queued delivery that has none (see DeliveryJobGaps), and
// returns their ids.
func (s *Store) RequeueDeliveryGaps(ctx context.Context, enqueue EnqueueFunc) ([]string, error) {
	var ids []string
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, s.deliveryJobGapsQuery(), DeliveryJobKind)
		if err != nil {
			return fmt.Errorf("delivery job gaps: %w", err)
		}
		if ids, err = scanIDs(rows); err != nil || len(ids) == 0 {
			return err
		}
		// A scheduled delivery still waits out its approval's undo window.
		var now []string
		for _, id := range ids {
			var at NullTime
			err := tx.QueryRow(ctx, `SELECT r.undo_expires_at FROM deliveries d JOIN recommendations r ON r.recommendation_id = d.recommendation_id
WHERE d.recommendation_id = ? AND d.status = 'scheduled'`, id).Scan(&at)
			if errors.Is(err, errNotFound) || (err == nil && (!at.Valid || !at.Time.After(tx.Now))) {
				now = append(now, id)
				continue
			}
			if err != nil {
				return fmt.Errorf("read scheduled delivery: %w", err)
			}
			if err := enqueue(tx.Context(ctx), tx, []string{id}, at.Time); err != nil {
				return err
			}
		}
		return enqueue(tx.Context(ctx), tx, now, time.Time{})
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func scanIDs(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// LiveDeliveryJobs returns the ids of the River jobs that will still run
// for the given recommendations' deliveries.
func (tx *Tx) LiveDeliveryJobs(ctx context.Context, recIDs []string) ([]int64, error) {
	if len(recIDs) == 0 {
		return nil, nil
	}
	args := []any{DeliveryJobKind}
	for _, id := range recIDs {
		args = append(args, id)
	}
	rows, err := tx.Query(ctx, `SELECT j.id FROM river_job j WHERE j.kind = ? AND j.state IN (`+liveJobStates+`)
 AND `+tx.s.d.jsonField("j.args", "recommendation_id")+` IN (`+placeholders(len(recIDs))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("live delivery jobs: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
