package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Tag is one vocabulary name put on a recommendation.
type Tag struct {
	TagID            string
	RecommendationID string
	TagName          string
	TaggedBy         string
	TaggedAt         time.Time
}

// VocabularyEntry is one name operators may tag with.
type VocabularyEntry struct {
	TagName     string
	DisplayName string
	Retired     bool
}

// TagVocabulary returns the names in use (retired ones only with
// withRetired), in name order.
func (s *Store) TagVocabulary(ctx context.Context, withRetired bool) ([]VocabularyEntry, error) {
	q := `SELECT tag_name, display_name, retired FROM tag_vocabulary`
	var args []any
	if !withRetired {
		q += ` WHERE retired = ?`
		args = append(args, false)
	}
	rows, err := s.reads().Query(ctx, q+` ORDER BY tag_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("tag vocabulary: %w", err)
	}
	defer rows.Close()
	out := []VocabularyEntry{}
	for rows.Next() {
		var v VocabularyEntry
		if err := rows.Scan(&v.TagName, &v.DisplayName, &v.Retired); err != nil {
			return nil, fmt.Errorf("tag vocabulary: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ListTags returns a recommendation's tags, oldest first; a recommendation
// that does not exist is not found. It is the dashboard's most frequent
// request (every card of a page asks), so it is one indexed query.
func (s *Store) ListTags(ctx context.Context, recID string) ([]Tag, error) {
	rows, err := s.reads().Query(ctx, `SELECT r.recommendation_id, t.tag_id, t.tag_name, t.tagged_by, t.tagged_at
FROM recommendations r LEFT JOIN recommendation_tags t ON t.recommendation_id = r.recommendation_id
WHERE r.recommendation_id = ? ORDER BY t.tagged_at, t.tag_id`, recID)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	found, tags := false, []Tag{}
	for rows.Next() {
		var id string
		var tagID, name, by sql.NullString
		var at NullTime
		if err := rows.Scan(&id, &tagID, &name, &by, &at); err != nil {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		found = true
		if tagID.Valid {
			tags = append(tags, Tag{TagID: tagID.String, RecommendationID: id, TagName: name.String, TaggedBy: by.String, TaggedAt: at.Time})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	if !found {
		return nil, review.NotFound(recID)
	}
	return tags, nil
}

// AddTag tags a recommendation with a vocabulary name, audited as tag_add.
// A name not in the vocabulary (or retired) is invalid; a name already on
// the item is a conflict.
func (s *Store) AddTag(ctx context.Context, actor review.Actor, recID, name string) (*Tag, error) {
	var out *Tag
	err := s.WithTx(ctx, func(tx *Tx) error {
		if err := tx.recExists(ctx, recID); err != nil {
			return err
		}
		var retired bool
		err := tx.QueryRow(ctx, `SELECT retired FROM tag_vocabulary WHERE tag_name = ?`, name).Scan(&retired)
		if errors.Is(err, errNotFound) || retired {
			return review.Errorf(review.EInvalid, "%q is not in the tag vocabulary (GET /api/operator/tags/available)", name)
		}
		if err != nil {
			return fmt.Errorf("read tag vocabulary: %w", err)
		}
		var existing string
		err = tx.QueryRow(ctx, `SELECT tag_id FROM recommendation_tags WHERE recommendation_id = ? AND tag_name = ?`, recID, name).Scan(&existing)
		if err == nil {
			return review.Errorf(review.EConflict, "recommendation %q is already tagged %q (tag %s)", recID, name, existing)
		}
		if !errors.Is(err, errNotFound) {
			return fmt.Errorf("read tags: %w", err)
		}
		t := &Tag{TagID: NewID(), RecommendationID: recID, TagName: name, TaggedBy: actor.ID, TaggedAt: tx.Now}
		if _, err := tx.Exec(ctx, `INSERT INTO recommendation_tags (tag_id, recommendation_id, tag_name, tagged_by, tagged_at) VALUES (?, ?, ?, ?, ?)`,
			t.TagID, recID, name, actor.ID, s.ts(tx.Now)); err != nil {
			if isUniqueViolation(err) { // a concurrent request tagged it first
				return review.Errorf(review.EConflict, "recommendation %q is already tagged %q", recID, name)
			}
			return fmt.Errorf("add tag: %w", err)
		}
		out = t
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionTagAdd, RecommendationID: recID,
			Metadata: map[string]any{"tag_id": t.TagID, "tag_name": name}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, out) // the keyed response renders the tag
	})
	return out, err
}

// RemoveTag takes a tag off its recommendation, audited as tag_remove.
// Tags are shared labels: any operator may remove one.
func (s *Store) RemoveTag(ctx context.Context, actor review.Actor, tagID string) (*Tag, error) {
	var out *Tag
	err := s.WithTx(ctx, func(tx *Tx) error {
		var t Tag
		var at Time
		err := tx.QueryRow(ctx, `SELECT tag_id, recommendation_id, tag_name, tagged_by, tagged_at FROM recommendation_tags WHERE tag_id = ?`+s.d.forUpdate(), tagID).
			Scan(&t.TagID, &t.RecommendationID, &t.TagName, &t.TaggedBy, &at)
		if errors.Is(err, errNotFound) {
			return review.Errorf(review.ENotFound, "tag %q not found", tagID)
		}
		if err != nil {
			return fmt.Errorf("read tag: %w", err)
		}
		t.TaggedAt = at.Time
		if _, err := tx.Exec(ctx, `DELETE FROM recommendation_tags WHERE tag_id = ?`, tagID); err != nil {
			return fmt.Errorf("remove tag: %w", err)
		}
		out = &t
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionTagRemove, RecommendationID: t.RecommendationID,
			Metadata: map[string]any{"tag_id": tagID, "tag_name": t.TagName, "tagged_by": t.TaggedBy}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, out)
	})
	return out, err
}

// AddVocabulary adds a name to the tag vocabulary (or brings a retired one
// back, with a new display name), audited as tag_vocabulary.
func (s *Store) AddVocabulary(ctx context.Context, actor review.Actor, name, display string) (*VocabularyEntry, error) {
	if err := review.CheckTagName(name); err != nil {
		return nil, err
	}
	var out *VocabularyEntry
	err := s.WithTx(ctx, func(tx *Tx) error {
		var cur VocabularyEntry
		err := tx.QueryRow(ctx, `SELECT tag_name, display_name, retired FROM tag_vocabulary WHERE tag_name = ?`+s.d.forUpdate(), name).
			Scan(&cur.TagName, &cur.DisplayName, &cur.Retired)
		switch {
		case errors.Is(err, errNotFound):
			if _, err := tx.Exec(ctx, `INSERT INTO tag_vocabulary (tag_name, display_name, retired, created_at) VALUES (?, ?, ?, ?)`,
				name, display, false, s.ts(tx.Now)); err != nil {
				if isUniqueViolation(err) {
					return review.Errorf(review.EConflict, "tag %q is already in the vocabulary", name)
				}
				return fmt.Errorf("add vocabulary: %w", err)
			}
		case err != nil:
			return fmt.Errorf("read vocabulary: %w", err)
		case !cur.Retired:
			return review.Errorf(review.EConflict, "tag %q is already in the vocabulary", name)
		default:
			if _, err := tx.Exec(ctx, `UPDATE tag_vocabulary SET retired = ?, display_name = ? WHERE tag_name = ?`, false, display, name); err != nil {
				return fmt.Errorf("restore vocabulary: %w", err)
			}
		}
		out = &VocabularyEntry{TagName: name, DisplayName: display}
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionTagVocabulary,
			Metadata: map[string]any{"change": "add", "tag_name": name, "display_name": display}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, out)
	})
	return out, err
}

// RetireVocabulary stops a name from being used for new tags; tags already
// made with it stay. Audited as tag_vocabulary.
func (s *Store) RetireVocabulary(ctx context.Context, actor review.Actor, name string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE tag_vocabulary SET retired = ? WHERE tag_name = ? AND retired = ?`, true, name, false)
		if err != nil {
			return fmt.Errorf("retire vocabulary: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return review.Errorf(review.ENotFound, "tag %q is not in the vocabulary (or is already retired)", name)
		}
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionTagVocabulary,
			Metadata: map[string]any{"change": "retire", "tag_name": name}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx)
	})
}

// attachTags fills in the tag names of recs (one query for all of them).
func attachTags(ctx context.Context, query func(ctx context.Context, q string, args ...any) (*sql.Rows, error), recs []*review.Recommendation) error {
	if len(recs) == 0 {
		return nil
	}
	args := make([]any, len(recs))
	byID := make(map[string]*review.Recommendation, len(recs))
	for i, r := range recs {
		args[i] = r.ID
		byID[r.ID] = r
		r.Tags = []string{}
	}
	rows, err := query(ctx, `SELECT recommendation_id, tag_name FROM recommendation_tags WHERE recommendation_id IN (`+placeholders(len(recs))+`)
ORDER BY recommendation_id, tagged_at, tag_id`, args...)
	if err != nil {
		return fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("read tags: %w", err)
		}
		if r := byID[id]; r != nil {
			r.Tags = append(r.Tags, name)
		}
	}
	return rows.Err()
}

// attachTags with the read pool.
func (s *Store) attachTags(ctx context.Context, recs []*review.Recommendation) error {
	return attachTags(ctx, func(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
		return s.reads().Query(ctx, q, args...)
	}, recs)
}
