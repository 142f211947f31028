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
	RecommendationID string     `json:"recommendation_id"`
	Status           string     `json:"status" enum:"queued,delivered,failed"`
	Attempts         int        `json:"attempts"`
	LastError        *string    `json:"last_error" nullable:"true"`
	QueuedAt         time.Time  `json:"queued_at"`
	DeliveredAt      *time.Time `json:"delivered_at" nullable:"true"`
	FailedAt         *time.Time `json:"failed_at" nullable:"true"`
	UpdatedAt        time.Time  `json:"updated_at"`
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
	rows, err := s.Read.QueryContext(ctx, s.q(q), args...)
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
func (s *Store) RetryDelivery(ctx context.Context, actor Actor, recID string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE recommendation_id = ?`+s.d.forUpdate(), recID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return review.Errorf(review.ENotFound, "no delivery for recommendation %q", recID)
		}
		if err != nil {
			return fmt.Errorf("read delivery: %w", err)
		}
		if status != review.DeliveryFailed {
			return review.Errorf(review.EConflict, "delivery of %q is %s; only failed deliveries can be retried", recID, status)
		}
		if err := tx.enqueueDeliveries(ctx, []string{recID}); err != nil {
			return err
		}
		_, err = tx.insertAudit(ctx, actor.ID, review.ActionRetryDelivery, recID, map[string]any{"previous_status": status})
		return err
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
	err := s.Read.QueryRowContext(ctx, `SELECT
 (SELECT COUNT(*) FROM recommendations WHERE status = 'pending'),
 (SELECT COUNT(*) FROM recommendations WHERE status = 'flagged')`).Scan(&pending, &flagged)
	if err != nil {
		return res, err
	}
	res.Review["pending"], res.Review["flagged"] = pending, flagged
	for _, st := range []string{review.DeliveryQueued, review.DeliveryDelivered, review.DeliveryFailed} {
		var n int64
		if err := s.Read.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM deliveries WHERE status = ?`), st).Scan(&n); err != nil {
			return res, err
		}
		res.Deliveries[st] = n
	}
	return res, nil
}
