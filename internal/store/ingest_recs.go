package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spendsense/operator-api/internal/review"
)

// errIngestRace means a concurrent ingest inserted one of our new ids
// between our read and our insert (PostgreSQL only); the batch is rerun.
var errIngestRace = errors.New("concurrent ingest of the same recommendation id")

// preparedRec is a validated, normalised ingest item.
type preparedRec struct {
	review.IngestRecommendation
	hash string
}

// IngestRecommendations stores new recommendations (pending review) and
// their traces in one transaction. It is idempotent by id: an identical
// replay is unchanged, different content under a known id is a conflict and
// never overwrites; an unknown user, or an id repeated within the batch (the
// later occurrences), is a conflict too. Conflicts are listed in batch
// order. An invalid item fails the whole batch.
func (s *Store) IngestRecommendations(ctx context.Context, recs []review.IngestRecommendation) (review.IngestRecsResult, error) {
	if len(recs) > MaxIngestBatch {
		return review.IngestRecsResult{Conflicts: []review.IngestConflict{}}, review.Errorf(review.EInvalid, "at most %d recommendations per request", MaxIngestBatch)
	}
	items := make([]preparedRec, len(recs))
	for i := range recs {
		n, hash, err := recs[i].Prepare(fmt.Sprintf("recommendations[%d]", i))
		if err != nil {
			return review.IngestRecsResult{Conflicts: []review.IngestConflict{}}, err
		}
		items[i] = preparedRec{n, hash}
	}
	for attempt := 1; ; attempt++ {
		res, err := s.ingestRecs(ctx, items)
		if errors.Is(err, errIngestRace) && attempt < 5 {
			continue
		}
		if err != nil {
			return review.IngestRecsResult{Conflicts: []review.IngestConflict{}}, err
		}
		return res, nil
	}
}

// ingestRecs is one attempt at IngestRecommendations: errIngestRace when
// a concurrent batch inserted one of its new ids first.
func (s *Store) ingestRecs(ctx context.Context, items []preparedRec) (review.IngestRecsResult, error) {
	res := review.IngestRecsResult{Conflicts: []review.IngestConflict{}}
	if len(items) == 0 {
		return res, nil
	}
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		res = review.IngestRecsResult{Conflicts: []review.IngestConflict{}}
		t, err := tx.triageRecs(ctx, items)
		if err != nil {
			return err
		}
		if err := tx.insertRecs(ctx, items, t.insert); err != nil {
			return err
		}
		res.Created, res.Unchanged = len(t.insert), t.unchanged
		slices.SortFunc(t.conflicts, func(a, b numberedConflict) int { return cmp.Compare(a.i, b.i) })
		for _, c := range t.conflicts {
			res.Conflicts = append(res.Conflicts, c.c)
		}
		return tx.recordIdem(ctx, res)
	})
	return res, err
}

// numberedConflict is a conflict with the index of its item in the batch.
type numberedConflict struct {
	i int
	c review.IngestConflict
}

// recTriage sorts a batch: the items to insert (indexes, in id order), the
// number of identical replays, and the conflicts.
type recTriage struct {
	insert    []int
	unchanged int
	conflicts []numberedConflict
}

// triageRecs finds, in a batch, the ids repeated within it, the ids
// already stored (unchanged when identical, else a conflict) and the items
// of users that do not exist.
func (tx *Tx) triageRecs(ctx context.Context, items []preparedRec) (recTriage, error) {
	var t recTriage
	reject := func(i int, code, format string, args ...any) {
		t.conflicts = append(t.conflicts, numberedConflict{i, review.IngestConflict{RecommendationID: items[i].ID, Reason: code + ": " + fmt.Sprintf(format, args...)}})
	}
	// First occurrence of each id; later ones are duplicates.
	first := make(map[string]int, len(items))
	var cand []int
	for i := range items {
		if _, dup := first[items[i].ID]; dup {
			reject(i, review.ReasonDuplicate, "recommendation %q appears more than once in this request", items[i].ID)
			continue
		}
		first[items[i].ID] = i
		cand = append(cand, i)
	}

	ids := make([]string, len(cand))
	for j, i := range cand {
		ids[j] = items[i].ID
	}
	stored, err := tx.pairsIn(ctx, `SELECT recommendation_id, content_hash FROM recommendations WHERE recommendation_id IN `, ids)
	if err != nil {
		return t, fmt.Errorf("read existing recommendations: %w", err)
	}
	var fresh []int
	userSet := map[string]bool{}
	for _, i := range cand {
		h, ok := stored[items[i].ID]
		switch {
		case !ok:
			fresh = append(fresh, i)
			userSet[items[i].UserID] = true
		case h == items[i].hash:
			t.unchanged++
		default:
			reject(i, review.ReasonIDConflict, "recommendation %q already exists with different content; it was not changed", items[i].ID)
		}
	}

	users := make([]string, 0, len(userSet))
	for u := range userSet {
		users = append(users, u)
	}
	slices.Sort(users)
	known, err := tx.pairsIn(ctx, `SELECT user_id, user_id FROM users WHERE user_id IN `, users)
	if err != nil {
		return t, fmt.Errorf("read users: %w", err)
	}
	for _, i := range fresh {
		if _, ok := known[items[i].UserID]; !ok {
			reject(i, review.ReasonUnknownUser, "user %q does not exist; ingest the user first", items[i].UserID)
			continue
		}
		t.insert = append(t.insert, i)
	}
	// Insert in id order: concurrent batches that share ids then lock
	// them in the same order on PostgreSQL and queue instead of deadlocking.
	slices.SortFunc(t.insert, func(a, b int) int { return cmp.Compare(items[a].ID, items[b].ID) })
	return t, nil
}

// insertRecs inserts items[ins] as pending, with their traces.
func (tx *Tx) insertRecs(ctx context.Context, items []preparedRec, ins []int) error {
	s := tx.s
	now := s.ts(tx.Now)
	n, err := insertMany(ctx, tx, `INSERT INTO recommendations (recommendation_id, user_id, persona_primary, persona_secondary, type,
 title, rationale, priority, status, content_url, read_time_minutes, tone_check, advice_check, eligibility_check,
 guardrails_passed, generated_at, created_at, updated_at, version, content_hash) VALUES `, 20, len(ins),
		func(j int, args []any) []any {
			r := &items[ins[j]]
			g := r.GuardrailsPassed
			return append(args, r.ID, r.UserID, r.PersonaPrimary, r.PersonaSecondary, r.Type,
				r.Title, r.Rationale, r.Priority, string(review.StatusPending), r.ContentURL, r.ReadTimeMinutes,
				g.ToneCheck, g.AdviceCheck, g.EligibilityCheck, g.All(), s.ts(r.GeneratedAt), now, now, 1, r.hash)
		}, ` ON CONFLICT (recommendation_id) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("insert recommendations: %w", err)
	}
	if n != int64(len(ins)) {
		return errIngestRace
	}

	var traced []int
	for _, i := range ins {
		if items[i].Trace != nil {
			traced = append(traced, i)
		}
	}
	if _, err := insertMany(ctx, tx, `INSERT INTO decision_traces (trace_id, recommendation_id, signals_detected_at, persona_assigned_at,
 content_matched_at, rationale_generated_at, guardrails_checked_at, signals_json, persona_assignment_json,
 content_matches_json, relevance_scores_json, llm_model, temperature, tokens_used, created_at) VALUES `, 15, len(traced),
		func(j int, args []any) []any {
			r := &items[traced[j]]
			t := r.Trace
			return append(args, NewID(), r.ID, s.ts(t.SignalsDetectedAt), s.ts(t.PersonaAssignedAt),
				s.ts(t.ContentMatchedAt), s.ts(t.RationaleGeneratedAt), s.ts(t.GuardrailsCheckedAt),
				jsonText(t.Signals), jsonText(t.PersonaAssignment), jsonText(t.ContentMatches), jsonText(t.RelevanceScores),
				t.LLMModel, t.Temperature, t.TokensUsed, now)
		}, ""); err != nil {
		return fmt.Errorf("insert traces: %w", err)
	}
	return nil
}
