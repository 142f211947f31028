package store

import (
	"context"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Claim reserves up to Limit pending items, oldest first, for the actor
// until the lease expires, so two operators never review the same item.
// Items someone else holds are skipped; the actor's own claims are renewed.
// On PostgreSQL, FOR UPDATE SKIP LOCKED lets concurrent claimers (in any
// number of processes) take disjoint rows without waiting on each other; on
// SQLite the single writer serialises claimers, which gives the same result.
func (s *Store) Claim(ctx context.Context, in review.ClaimInput) ([]*review.Recommendation, time.Time, error) {
	var out []*review.Recommendation
	var expires time.Time
	err := s.WithTx(ctx, func(tx *Tx) error {
		expires = tx.Now.Add(in.Lease)
		now := s.ts(tx.Now)
		q := `SELECT recommendation_id FROM recommendations
WHERE status = 'pending' AND (claimed_by IS NULL OR claimed_by = ? OR claim_expires_at <= ?)`
		args := []any{in.Actor.ID, now}
		for col, v := range map[string]string{"persona_primary": in.Persona, "priority": in.Priority, "type": in.Type} {
			if v != "" {
				q += " AND " + col + " = ?"
				args = append(args, v)
			}
		}
		q += " ORDER BY created_at, recommendation_id LIMIT ?" + s.d.skipLocked()
		args = append(args, in.Limit)
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		out = []*review.Recommendation{}
		if len(ids) == 0 {
			return tx.recordIdem(ctx, out, expires)
		}
		uargs := append([]any{in.Actor.ID, s.ts(expires)}, ids...)
		if _, err := tx.Exec(ctx, `UPDATE recommendations SET claimed_by = ?, claim_expires_at = ? WHERE recommendation_id IN (`+placeholders(len(ids))+`)`, uargs...); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT `+recColumns+recFrom+`WHERE r.recommendation_id IN (`+placeholders(len(ids))+`) ORDER BY r.created_at, r.recommendation_id`, ids...)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		for rows.Next() {
			rec, err := scanRec(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, rec)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.recordIdem(ctx, out, expires) // the claimed items and the lease's end
	})
	return out, expires, err
}

// Release gives back the actor's claims on ids, or all of them when ids is
// empty, and reports how many were released.
func (s *Store) Release(ctx context.Context, actor review.Actor, ids []string) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *Tx) error {
		q := `UPDATE recommendations SET claimed_by = NULL, claim_expires_at = NULL WHERE claimed_by = ?`
		args := []any{actor.ID}
		if len(ids) > 0 {
			q += ` AND recommendation_id IN (` + placeholders(len(ids)) + `)`
			for _, id := range ids {
				args = append(args, id)
			}
		}
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		return tx.recordIdem(ctx, n) // how many were released
	})
	return n, err
}
