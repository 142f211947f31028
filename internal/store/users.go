package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

func userNotFound(id string) error { return review.Errorf(review.ENotFound, "user %q not found", id) }

// GetUserProfile returns a user with current personas for both windows and
// recommendation counts by status.
func (s *Store) GetUserProfile(ctx context.Context, userID string) (*review.UserProfile, error) {
	var p review.UserProfile
	var name sql.NullString
	var created, updated Time
	err := s.reads().QueryRow(ctx, `SELECT user_id, name, created_at, updated_at FROM users WHERE user_id = ?`, userID).
		Scan(&p.UserID, &name, &created, &updated)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	p.Name, p.CreatedAt, p.UpdatedAt = strPtr(name), created.Time, updated.Time
	if p.Personas, err = s.currentPersonas(ctx, userID); err != nil {
		return nil, err
	}
	rows, err := s.reads().Query(ctx, `SELECT status, COUNT(*) FROM recommendations WHERE user_id = ? GROUP BY status`, userID)
	if err != nil {
		return nil, fmt.Errorf("count recommendations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count recommendations: %w", err)
		}
		switch review.Status(status) {
		case review.StatusPending:
			p.RecommendationCounts.Pending = n
		case review.StatusApproved:
			p.RecommendationCounts.Approved = n
		case review.StatusRejected:
			p.RecommendationCounts.Rejected = n
		case review.StatusFlagged:
			p.RecommendationCounts.Flagged = n
		}
		p.RecommendationCounts.Total += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count recommendations: %w", err)
	}
	return &p, nil
}

// currentPersonas reads a user's current persona per window.
func (s *Store) currentPersonas(ctx context.Context, userID string) (review.CurrentPersonas, error) {
	var out review.CurrentPersonas
	rows, err := s.reads().Query(ctx, `SELECT window_type, persona_primary, persona_secondary, match_strength
FROM user_personas WHERE user_id = ?`, userID)
	if err != nil {
		return out, fmt.Errorf("read personas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var window string
		var p review.Persona
		var secondary sql.NullString
		if err := rows.Scan(&window, &p.Primary, &secondary, &p.MatchStrength); err != nil {
			return out, fmt.Errorf("read personas: %w", err)
		}
		p.Secondary = strPtr(secondary)
		switch window {
		case "30d":
			out.Days30 = &p
		case "180d":
			out.Days180 = &p
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read personas: %w", err)
	}
	return out, nil
}

// GetUserSignals returns a user's newest signals for window (30d or 180d)
// with the user's current personas. An unknown user and a known user without
// signals for the window are both not-found, with different messages.
func (s *Store) GetUserSignals(ctx context.Context, userID, window string) (*review.UserSignals, error) {
	if !review.ValidWindow(window) {
		return nil, review.Errorf(review.EInvalid, "window_type must be 30d or 180d")
	}
	var computed NullTime
	var doc []byte
	var found string
	err := s.reads().QueryRow(ctx, `SELECT u.user_id, s.computed_at, s.signals_json
FROM users u LEFT JOIN user_signals s ON s.user_id = u.user_id AND s.window_type = ?
WHERE u.user_id = ?`, window, userID).Scan(&found, &computed, &doc)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get signals: %w", err)
	}
	if !computed.Valid {
		return nil, review.Errorf(review.ENotFound, "user %q has no %s signals recorded", userID, window)
	}
	out := &review.UserSignals{UserID: userID, WindowType: window, ComputedAt: computed.Time}
	if err := json.Unmarshal(doc, &out.Signals); err != nil {
		return nil, fmt.Errorf("decode signals of user %q: %w", userID, err)
	}
	out.Signals.Normalize()
	personas, err := s.currentPersonas(ctx, userID)
	if err != nil {
		return nil, err
	}
	out.Persona30d, out.Persona180d = personas.Days30, personas.Days180
	return out, nil
}

// PersonaHistory returns a user's persona assignments recorded within the
// last days days before now, newest first: empty for a user without
// history, not-found for an unknown user.
func (s *Store) PersonaHistory(ctx context.Context, userID string, days int, now time.Time) ([]review.PersonaHistoryEntry, error) {
	if days < 1 {
		return nil, review.Errorf(review.EInvalid, "days must be at least 1")
	}
	var exists int
	err := s.reads().QueryRow(ctx, `SELECT 1 FROM users WHERE user_id = ?`, userID).Scan(&exists)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	since := now.UTC().AddDate(0, 0, -days)
	rows, err := s.reads().Query(ctx, `SELECT recorded_at, persona_primary, match_strength, window_type
FROM persona_history WHERE user_id = ? AND recorded_at >= ?
ORDER BY recorded_at DESC, history_id DESC`, userID, s.ts(since))
	if err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	defer rows.Close()
	out := []review.PersonaHistoryEntry{}
	for rows.Next() {
		var e review.PersonaHistoryEntry
		var at Time
		if err := rows.Scan(&at, &e.Persona, &e.MatchStrength, &e.WindowType); err != nil {
			return nil, fmt.Errorf("persona history: %w", err)
		}
		e.Date = at.Format(time.DateOnly)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	return out, nil
}
