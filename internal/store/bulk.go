package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/spendsense/operator-api/internal/review"
)

// BulkApprove approves every id that may be approved and reports the rest.
// Each item stands alone: one failing item never blocks another. The whole
// request is one transaction of set-based statements (one read, one
// conditional UPDATE, one multi-row audit INSERT and one delivery INSERT per
// chunk), so 1,000 ids cost a handful of round trips, not thousands. Bulk
// approval never overrides guardrails: it uses the same rule as a single
// approval without override.
func (s *Store) BulkApprove(ctx context.Context, in review.BulkApproveInput) (review.BulkResult, error) {
	res := review.BulkResult{BulkID: NewID(), Total: len(in.IDs), ApprovedIDs: []string{}, FailedItems: []review.BulkFailure{}}
	fail := func(id, code, why string) {
		res.FailedItems = append(res.FailedItems, review.BulkFailure{RecommendationID: id, Reason: code + ": " + why})
	}
	// Keep the first occurrence of each id; later ones are duplicates.
	seen := make(map[string]bool, len(in.IDs))
	unique := make([]string, 0, len(in.IDs))
	for _, id := range in.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		unique = append(unique, id)
	}
	// Rows are locked in id order, across chunks and within each: two bulk
	// approvals over overlapping ids in different orders otherwise lock
	// each other's next chunk and deadlock on PostgreSQL. (The report
	// below follows the request's order.)
	slices.Sort(unique)
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		approved := map[string]bool{}
		reasons := map[string][2]string{}
		// 100 ids a statement: SQLite keeps a statement journal (in memory,
		// temp_store) of every page a multi-row UPDATE changes, and 500 a
		// statement took the server to 208 MiB on bulk-1000 at 1,000,000
		// recommendations; 100 kept it at 125 MiB, and was faster.
		const chunk = 100
		for start := 0; start < len(unique); start += chunk {
			ids := unique[start:min(len(unique), start+chunk)]
			ok, why, err := tx.bulkApproveChunk(ctx, in, res.BulkID, ids)
			if err != nil {
				return err
			}
			for _, id := range ok {
				approved[id] = true
			}
			for id, r := range why {
				reasons[id] = r
			}
		}
		// Report in request order.
		reported := make(map[string]bool, len(in.IDs))
		for _, id := range in.IDs {
			switch {
			case reported[id]:
				fail(id, review.ReasonDuplicate, "this id appears earlier in the same request")
			case approved[id]:
				res.ApprovedIDs = append(res.ApprovedIDs, id)
			default:
				r := reasons[id]
				fail(id, r[0], r[1])
			}
			reported[id] = true
		}
		res.Approved, res.Failed = len(res.ApprovedIDs), len(res.FailedItems)
		return tx.recordIdem(ctx, res)
	})
	if err != nil {
		return review.BulkResult{}, err
	}
	return res, nil
}

// bulkApproveChunk reads ids (locking them on PostgreSQL) and approves
// those the status machine allows, through decide like every other
// decision: one read, one conditional UPDATE, one multi-row audit INSERT
// and one delivery INSERT for the chunk.
func (tx *Tx) bulkApproveChunk(ctx context.Context, in review.BulkApproveInput, bulkID string, ids []string) ([]string, map[string][2]string, error) {
	found, err := tx.lockRecs(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk read: %w", err)
	}
	why := make(map[string][2]string, len(ids))
	candidates := make([]*review.Recommendation, 0, len(ids))
	for _, id := range ids {
		rec, ok := found[id]
		switch {
		case !ok:
			why[id] = [2]string{review.ReasonNotFound, "no recommendation with this id"}
		case rec.HeldByOther(in.Actor.ID, tx.Now) && rec.Status == review.StatusPending && rec.Guardrails.All():
			why[id] = [2]string{review.ReasonClaimed, "claimed by " + *rec.ClaimedBy}
		default:
			candidates = append(candidates, rec)
		}
	}
	// Bulk approval never overrides guardrails.
	done, refused, err := tx.decide(ctx, decision{
		edge: review.EdgeApprove, actor: in.Actor,
		approval: review.Approval{Role: in.Actor.Role, Notes: in.Notes},
		set:      `approved_by = ?, approved_at = ?, operator_notes = COALESCE(?, operator_notes)`,
		args:     []any{in.Actor.ID, tx.s.ts(tx.Now), nullIfEmpty(in.Notes)},
		audit:    review.ActionApprove,
		meta: func(rec *review.Recommendation) map[string]any {
			return map[string]any{"notes": in.Notes, "bulk_id": bulkID, "from_status": string(rec.Status)}
		},
	}, candidates)
	if err != nil {
		return nil, nil, err
	}
	for id, err := range refused {
		why[id] = refusalReason(err)
	}
	ok := make([]string, len(done))
	for i, d := range done {
		ok[i] = d.after.ID
	}
	return ok, why, nil
}

// lockRecs reads the recommendations with these ids, in id order (so that
// concurrent batches lock rows in the same order), locking their rows on
// PostgreSQL; ids with no recommendation are missing from the map.
func (tx *Tx) lockRecs(ctx context.Context, ids []string) (map[string]*review.Recommendation, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	lock := tx.s.d.forUpdate()
	if lock != "" {
		lock += " OF r"
	}
	rows, err := tx.Query(ctx, `SELECT `+recColumns+recFrom+`WHERE r.recommendation_id IN (`+placeholders(len(ids))+`) ORDER BY r.recommendation_id`+lock, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[string]*review.Recommendation, len(ids))
	for rows.Next() {
		rec, err := scanRec(rows)
		if err != nil {
			return nil, err
		}
		found[rec.ID] = rec
	}
	return found, rows.Err()
}
