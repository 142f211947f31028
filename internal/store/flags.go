package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Flag is a request for senior review, with a summary of its recommendation.
type Flag struct {
	FlagID           string
	RecommendationID string
	FlaggedBy        string
	FlagReason       string
	FlaggedAt        time.Time
	Resolved         bool
	ResolvedBy       *string
	ResolvedAt       *time.Time
	Resolution       *string
	ResolutionNotes  *string
	Recommendation   FlagRecSummary
}

// FlagRecSummary is what a reviewer needs to see of a flagged item at a glance.
type FlagRecSummary struct {
	ID                  string
	UserID              string
	Title               string
	Type                string
	Priority            string
	PersonaPrimary      string
	Status              string
	AllGuardrailsPassed bool
}

const flagColumns = `f.flag_id, f.recommendation_id, f.flagged_by, f.flag_reason, f.flagged_at, f.resolved,
 f.resolved_by, f.resolved_at, f.resolution, f.resolution_notes,
 r.user_id, r.title, r.type, r.priority, r.persona_primary, r.status, r.guardrails_passed`

func scanFlag(row rowScanner) (*Flag, error) {
	var f Flag
	var flaggedAt Time
	var resolvedAt NullTime
	var resolvedBy, resolution, notes sql.NullString
	err := row.Scan(&f.FlagID, &f.RecommendationID, &f.FlaggedBy, &f.FlagReason, &flaggedAt, &f.Resolved,
		&resolvedBy, &resolvedAt, &resolution, &notes,
		&f.Recommendation.UserID, &f.Recommendation.Title, &f.Recommendation.Type, &f.Recommendation.Priority,
		&f.Recommendation.PersonaPrimary, &f.Recommendation.Status, &f.Recommendation.AllGuardrailsPassed)
	if err != nil {
		return nil, err
	}
	f.FlaggedAt, f.ResolvedAt = flaggedAt.Time, resolvedAt.Ptr()
	f.ResolvedBy, f.Resolution, f.ResolutionNotes = strPtr(resolvedBy), strPtr(resolution), strPtr(notes)
	f.Recommendation.ID = f.RecommendationID
	return &f, nil
}

// ListFlags returns flags, newest first, resolved or not.
func (s *Store) ListFlags(ctx context.Context, resolved bool, limit int) ([]*Flag, error) {
	rows, err := s.reads().Query(ctx, `SELECT `+flagColumns+`
FROM recommendation_flags f JOIN recommendations r ON r.recommendation_id = f.recommendation_id
WHERE f.resolved = ? ORDER BY f.flagged_at DESC, f.flag_id DESC LIMIT ?`, resolved, limit)
	if err != nil {
		return nil, fmt.Errorf("list flags: %w", err)
	}
	defer rows.Close()
	flags := []*Flag{}
	for rows.Next() {
		f, err := scanFlag(rows)
		if err != nil {
			return nil, fmt.Errorf("list flags: %w", err)
		}
		flags = append(flags, f)
	}
	return flags, rows.Err()
}

// ResolveFlag closes an open flag and moves its recommendation out of
// flagged (to approved, rejected or back to pending) in one transaction with
// one resolve_flag audit row. Approving here follows the same guardrail rule
// as any approval, and enqueues the delivery.
func (s *Store) ResolveFlag(ctx context.Context, in review.ResolveInput) (*Flag, *review.Recommendation, error) {
	var outFlag *Flag
	var outRec *review.Recommendation
	err := s.WithTx(ctx, func(tx *Tx) error {
		var recID string
		var resolved bool
		err := tx.QueryRow(ctx, `SELECT recommendation_id, resolved FROM recommendation_flags WHERE flag_id = ?`+s.d.forUpdate(), in.FlagID).Scan(&recID, &resolved)
		if errors.Is(err, errNotFound) {
			return review.Errorf(review.ENotFound, "flag %q not found", in.FlagID)
		}
		if err != nil {
			return fmt.Errorf("read flag: %w", err)
		}
		rec, err := tx.getRec(ctx, recID)
		if err != nil {
			return err
		}
		if resolved {
			return &review.Error{Code: review.EConflict, CurrentStatus: rec.Status, Message: fmt.Sprintf("flag %q is already resolved", in.FlagID)}
		}
		if rec.Status != review.StatusFlagged {
			return review.StatusConflict("resolve a flag on", rec.Status)
		}
		edge, ok := review.ResolutionEdge(in.Resolution)
		if !ok {
			return review.Errorf(review.EInvalid, "resolution must be approve, reject or requeue")
		}
		// Flag rows first: the flag is closed by the same decision that
		// moves its recommendation, and if that decision is refused the
		// transaction rolls both back.
		res, err := tx.Exec(ctx, `UPDATE recommendation_flags SET resolved = ?, resolved_by = ?, resolved_at = ?, resolution = ?, resolution_notes = ?
WHERE flag_id = ? AND resolved = ?`, true, in.Actor.ID, s.ts(tx.Now), in.Resolution, in.Notes, in.FlagID, false)
		if err != nil {
			return fmt.Errorf("resolve flag: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &review.Error{Code: review.EConflict, CurrentStatus: rec.Status, Message: fmt.Sprintf("flag %q is already resolved", in.FlagID)}
		}
		d := decision{
			edge: edge, actor: in.Actor, audit: review.ActionResolveFlag,
			approval: review.Approval{Role: in.Actor.Role, Notes: in.Notes, Override: in.Override},
		}
		target, _ := review.ResolutionTarget(in.Resolution)
		switch target {
		case review.StatusApproved:
			d.set, d.args = `approved_by = ?, approved_at = ?, operator_notes = COALESCE(?, operator_notes)`, []any{in.Actor.ID, s.ts(tx.Now), nullIfEmpty(in.Notes)}
		case review.StatusRejected:
			d.set, d.args = `rejected_by = ?, rejected_at = ?, operator_notes = ?`, []any{in.Actor.ID, s.ts(tx.Now), in.Notes}
		}
		d.meta = func(rec *review.Recommendation) map[string]any {
			meta := map[string]any{"flag_id": in.FlagID, "resolution": in.Resolution, "notes": in.Notes, "to_status": string(target)}
			if target == review.StatusApproved && !rec.Guardrails.All() {
				meta["override_guardrails"] = true
			}
			return meta
		}
		done, err := tx.decideOne(ctx, d, rec)
		if err != nil {
			return err
		}
		outRec = done.after
		outFlag, err = scanFlag(tx.QueryRow(ctx, `SELECT `+flagColumns+`
FROM recommendation_flags f JOIN recommendations r ON r.recommendation_id = f.recommendation_id WHERE f.flag_id = ?`, in.FlagID))
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, outFlag, outRec) // the flag and its recommendation
	})
	return outFlag, outRec, err
}
