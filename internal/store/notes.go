package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Note is one entry of a recommendation's note thread.
type Note struct {
	NoteID           string
	RecommendationID string
	OperatorID       string
	NoteText         string
	CreatedAt        time.Time
	UpdatedAt        *time.Time
}

const noteColumns = `n.note_id, n.recommendation_id, n.operator_id, n.note_text, n.created_at, n.updated_at`

func scanNote(row rowScanner) (*Note, error) {
	var n Note
	var created Time
	var updated NullTime
	if err := row.Scan(&n.NoteID, &n.RecommendationID, &n.OperatorID, &n.NoteText, &created, &updated); err != nil {
		return nil, err
	}
	n.CreatedAt, n.UpdatedAt = created.Time, updated.Ptr()
	return &n, nil
}

// ListNotes returns a recommendation's notes, oldest first; a
// recommendation that does not exist is not found.
func (s *Store) ListNotes(ctx context.Context, recID string) ([]*Note, error) {
	// One query answers both "does it exist" and "its notes".
	rows, err := s.reads().Query(ctx, `SELECT r.recommendation_id, n.note_id, n.operator_id, n.note_text, n.created_at, n.updated_at
FROM recommendations r LEFT JOIN recommendation_notes n ON n.recommendation_id = r.recommendation_id
WHERE r.recommendation_id = ? ORDER BY n.created_at, n.note_id`, recID)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	defer rows.Close()
	found, notes := false, []*Note{}
	for rows.Next() {
		var id string
		var noteID, operatorID, text sql.NullString
		var created, updated NullTime
		if err := rows.Scan(&id, &noteID, &operatorID, &text, &created, &updated); err != nil {
			return nil, fmt.Errorf("list notes: %w", err)
		}
		found = true
		if noteID.Valid {
			notes = append(notes, &Note{NoteID: noteID.String, RecommendationID: id, OperatorID: operatorID.String,
				NoteText: text.String, CreatedAt: created.Time, UpdatedAt: updated.Ptr()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	if !found {
		return nil, review.NotFound(recID)
	}
	return notes, nil
}

// AddNote adds a note to a recommendation, audited as note_add.
func (s *Store) AddNote(ctx context.Context, actor review.Actor, recID, text string) (*Note, error) {
	var out *Note
	err := s.WithTx(ctx, func(tx *Tx) error {
		if err := tx.recExists(ctx, recID); err != nil {
			return err
		}
		n := &Note{NoteID: NewID(), RecommendationID: recID, OperatorID: actor.ID, NoteText: text, CreatedAt: tx.Now}
		if _, err := tx.Exec(ctx, `INSERT INTO recommendation_notes (note_id, recommendation_id, operator_id, note_text, created_at)
VALUES (?, ?, ?, ?, ?)`, n.NoteID, recID, actor.ID, text, s.ts(tx.Now)); err != nil {
			return fmt.Errorf("add note: %w", err)
		}
		out = n
		_, err := tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionNoteAdd, RecommendationID: recID,
			Metadata: map[string]any{"note_id": n.NoteID, "note_text": text}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, out) // the keyed response renders the note
	})
	return out, err
}

// lockNote reads a note for a change by actor: only its author or an
// admin may change it.
func (tx *Tx) lockNote(ctx context.Context, actor review.Actor, noteID string) (*Note, error) {
	n, err := scanNote(tx.QueryRow(ctx, `SELECT `+noteColumns+` FROM recommendation_notes n WHERE n.note_id = ?`+tx.s.d.forUpdate(), noteID))
	if errors.Is(err, errNotFound) {
		return nil, review.Errorf(review.ENotFound, "note %q not found", noteID)
	}
	if err != nil {
		return nil, fmt.Errorf("read note: %w", err)
	}
	if n.OperatorID != actor.ID && actor.Role != review.RoleAdmin {
		return nil, review.Errorf(review.EForbidden, "only the note's author (%s) or an admin may change it", n.OperatorID)
	}
	return n, nil
}

// EditNote replaces a note's text, audited as note_edit with the text
// before and after. The same text again changes nothing and writes no row.
func (s *Store) EditNote(ctx context.Context, actor review.Actor, noteID, text string) (*Note, error) {
	var out *Note
	err := s.WithTx(ctx, func(tx *Tx) error {
		n, err := tx.lockNote(ctx, actor, noteID)
		if err != nil {
			return err
		}
		out = n
		if n.NoteText == text {
			return tx.recordIdem(ctx, out)
		}
		if _, err := tx.Exec(ctx, `UPDATE recommendation_notes SET note_text = ?, updated_at = ? WHERE note_id = ?`, text, s.ts(tx.Now), noteID); err != nil {
			return fmt.Errorf("edit note: %w", err)
		}
		before := n.NoteText
		now := tx.Now
		n.NoteText, n.UpdatedAt = text, &now
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionNoteEdit, RecommendationID: n.RecommendationID,
			Metadata: map[string]any{"note_id": noteID, "before": before, "after": text, "author": n.OperatorID}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx, out)
	})
	return out, err
}

// DeleteNote removes a note from its thread, audited as note_delete: the
// audit row keeps its text.
func (s *Store) DeleteNote(ctx context.Context, actor review.Actor, noteID string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		n, err := tx.lockNote(ctx, actor, noteID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recommendation_notes WHERE note_id = ?`, noteID); err != nil {
			return fmt.Errorf("delete note: %w", err)
		}
		_, err = tx.audit(ctx, AuditRecord{OperatorID: actor.ID, Action: review.ActionNoteDelete, RecommendationID: n.RecommendationID,
			Metadata: map[string]any{"note_id": noteID, "note_text": n.NoteText, "author": n.OperatorID}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx)
	})
}

// recExists is a not-found error unless the recommendation exists.
func (tx *Tx) recExists(ctx context.Context, recID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM recommendations WHERE recommendation_id = ?`, recID).Scan(&one)
	if errors.Is(err, errNotFound) {
		return review.NotFound(recID)
	}
	if err != nil {
		return fmt.Errorf("read recommendation: %w", err)
	}
	return nil
}
