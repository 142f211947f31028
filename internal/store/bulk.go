package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/spendsense/operator-api/internal/review"
)

// Stable reason codes for bulk failures; each failed item's reason starts
// with one, followed by a human explanation.
const (
	ReasonNotFound         = "not_found"
	ReasonNotPending       = "not_pending"
	ReasonGuardrailsFailed = "guardrails_failed"
	ReasonDuplicate        = "duplicate"
	ReasonClaimed          = "claimed"
)

// BulkFailure is one item bulk approval did not approve.
type BulkFailure struct {
	RecommendationID string `json:"recommendation_id"`
	Reason           string `json:"reason"`
}

// BulkResult reports a bulk approval item by item.
type BulkResult struct {
	BulkID      string        `json:"-"`
	Total       int           `json:"total"`
	Approved    int           `json:"approved"`
	Failed      int           `json:"failed"`
	ApprovedIDs []string      `json:"approved_ids"`
	FailedItems []BulkFailure `json:"failed_items"`
}

// BulkApproveInput is a bulk approval.
type BulkApproveInput struct {
	Actor Actor
	IDs   []string
	Notes string
}

// BulkApprove approves every id that may be approved and reports the rest.
// Each item stands alone: one failing item never blocks another. The whole
// request is one transaction of set-based statements (one read, one
// conditional UPDATE, one multi-row audit INSERT and one delivery INSERT per
// chunk), so 1,000 ids cost a handful of round trips, not thousands. Bulk
// approval never overrides guardrails: it uses the same rule as a single
// approval without override.
func (s *Store) BulkApprove(ctx context.Context, in BulkApproveInput) (BulkResult, error) {
	res := BulkResult{BulkID: NewID(), Total: len(in.IDs), ApprovedIDs: []string{}, FailedItems: []BulkFailure{}}
	fail := func(id, code, why string) {
		res.FailedItems = append(res.FailedItems, BulkFailure{RecommendationID: id, Reason: code + ": " + why})
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
	err := s.WithLargeTx(ctx, func(tx *Tx) error {
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
				fail(id, ReasonDuplicate, "this id appears earlier in the same request")
			case approved[id]:
				res.ApprovedIDs = append(res.ApprovedIDs, id)
			default:
				r := reasons[id]
				fail(id, r[0], r[1])
			}
			reported[id] = true
		}
		return nil
	})
	if err != nil {
		return BulkResult{}, err
	}
	res.Approved, res.Failed = len(res.ApprovedIDs), len(res.FailedItems)
	return res, nil
}

func (tx *Tx) bulkApproveChunk(ctx context.Context, in BulkApproveInput, bulkID string, ids []string) ([]string, map[string][2]string, error) {
	why := make(map[string][2]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in_ := placeholders(len(ids))
	lock := tx.s.d.forUpdate()
	rows, err := tx.Query(ctx, `SELECT recommendation_id, status, tone_check, advice_check, eligibility_check, claimed_by, claim_expires_at
FROM recommendations WHERE recommendation_id IN (`+in_+`) ORDER BY recommendation_id`+lock, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk read: %w", err)
	}
	type state struct {
		status  review.Status
		g       review.Guardrails
		claimBy *string
		claimTo NullTime
	}
	found := make(map[string]state, len(ids))
	for rows.Next() {
		var id, status string
		var st state
		var claim NullString
		if err := rows.Scan(&id, &status, &st.g.ToneCheck, &st.g.AdviceCheck, &st.g.EligibilityCheck, &claim, &st.claimTo); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("bulk read: %w", err)
		}
		st.status = review.Status(status)
		if claim.Valid {
			st.claimBy = &claim.String
		}
		found[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("bulk read: %w", err)
	}
	eligible := make([]string, 0, len(ids))
	for _, id := range ids {
		st, ok := found[id]
		rec := review.Recommendation{ID: id, Status: st.status, Guardrails: st.g, ClaimedBy: st.claimBy, ClaimExpiresAt: st.claimTo.Ptr()}
		switch {
		case !ok:
			why[id] = [2]string{ReasonNotFound, "no recommendation with this id"}
		case st.status != review.StatusPending:
			why[id] = [2]string{ReasonNotPending, "recommendation is " + string(st.status)}
		case !st.g.All():
			why[id] = [2]string{ReasonGuardrailsFailed, "a guardrail check failed; approve it singly with an override"}
		case rec.HeldByOther(in.Actor.ID, tx.Now):
			why[id] = [2]string{ReasonClaimed, "claimed by " + *st.claimBy}
		default:
			eligible = append(eligible, id)
		}
	}
	if len(eligible) == 0 {
		return nil, why, nil
	}
	// The conditional UPDATE is the guard: only rows still pending change.
	uargs := []any{in.Actor.ID, tx.s.ts(tx.Now), nullIfEmpty(in.Notes), tx.s.ts(tx.Now)}
	for _, id := range eligible {
		uargs = append(uargs, id)
	}
	// The primary keys must drive this UPDATE: SQLite otherwise walked the
	// status index through every pending row (546,147 at the benchmark's
	// size), a second per bulk request of 100.
	rows, err = tx.Query(ctx, `UPDATE recommendations SET status = 'approved', approved_by = ?, approved_at = ?,
 operator_notes = COALESCE(?, operator_notes), updated_at = ?, version = version + 1, claimed_by = NULL, claim_expires_at = NULL
WHERE `+tx.s.d.unindexed("status")+` = 'pending' AND recommendation_id IN (`+placeholders(len(eligible))+`) RETURNING recommendation_id`, uargs...)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk update: %w", err)
	}
	changed := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, err
		}
		changed[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("bulk update: %w", err)
	}
	ok := make([]string, 0, len(changed))
	for _, id := range eligible {
		if changed[id] {
			ok = append(ok, id)
		} else {
			why[id] = [2]string{ReasonNotPending, "recommendation changed status during the request"}
		}
	}
	if len(ok) == 0 {
		return nil, why, nil
	}
	now := tx.s.ts(tx.Now)
	meta := jsonText(mustJSON(map[string]any{"notes": in.Notes, "bulk_id": bulkID, "from_status": "pending"}))
	err = insertMany(ctx, tx, `INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp) VALUES `, 6, len(ok),
		func(i int, a []any) []any {
			return append(a, NewID(), in.Actor.ID, review.ActionApprove, ok[i], meta, now)
		}, "")
	if err != nil {
		return nil, nil, fmt.Errorf("bulk audit: %w", err)
	}
	if err := tx.enqueueDeliveries(ctx, ok); err != nil {
		return nil, nil, err
	}
	return ok, why, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
