package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// EventPos is a position in the stream log (migration 00009): rows are
// read in (Xid, Seq) order, which on PostgreSQL is the order no row can
// commit behind (see the migration) and on SQLite, where Xid is always 0,
// the commit order. Seq alone names a row.
type EventPos struct{ Xid, Seq int64 }

// After reports whether p comes after q in the log.
func (p EventPos) After(q EventPos) bool {
	return p.Xid > q.Xid || (p.Xid == q.Xid && p.Seq > q.Seq)
}

// StreamEvent is one row of the stream log: an audit row (Kind is its
// action) or a recommendation entering the queue (Kind "created").
type StreamEvent struct {
	Pos              EventPos
	Kind             string
	RecommendationID string
	OperatorID       string
	UserID           string
	At               time.Time
}

// KindCreated is the stream log's kind for a recommendation entering the queue.
const KindCreated = "created"

// visibleHorizon is, on PostgreSQL, the xid below which every transaction
// has finished, for the statement's own snapshot.
const visibleHorizon = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`

// StreamHead is the position of the newest row a reader can take now:
// starting there, it sees everything committed from then on.
func (s *Store) StreamHead(ctx context.Context) (EventPos, error) {
	q := `SELECT 0, COALESCE(MAX(seq), 0) FROM stream_events`
	if s.Engine == Postgres {
		q = `SELECT COALESCE(MAX(xid), 0), COALESCE(MAX(seq), 0) FROM (SELECT xid, seq FROM stream_events
WHERE xid < ` + visibleHorizon + ` ORDER BY xid DESC, seq DESC LIMIT 1) x`
	}
	var p EventPos
	if err := s.reads().QueryRow(ctx, q).Scan(&p.Xid, &p.Seq); err != nil {
		return p, fmt.Errorf("stream head: %w", err)
	}
	return p, nil
}

// StreamPos finds the position of the row numbered seq (a client's
// Last-Event-ID); ok is false when no such row is kept.
func (s *Store) StreamPos(ctx context.Context, seq int64) (p EventPos, ok bool, err error) {
	if seq == 0 {
		return EventPos{}, true, nil
	}
	err = s.reads().QueryRow(ctx, `SELECT xid, seq FROM stream_events WHERE seq = ?`, seq).Scan(&p.Xid, &p.Seq)
	if errors.Is(err, errNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("stream position: %w", err)
	}
	return p, true, nil
}

// StreamOldest is the position just before the oldest row kept.
func (s *Store) StreamOldest(ctx context.Context) (EventPos, error) {
	var p EventPos
	err := s.reads().QueryRow(ctx, `SELECT xid, seq FROM stream_events ORDER BY xid, seq LIMIT 1`).Scan(&p.Xid, &p.Seq)
	if errors.Is(err, errNotFound) {
		return EventPos{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("stream oldest: %w", err)
	}
	p.Seq-- // just before it (the order is by xid first, so this is still before every row of that xid)
	return p, nil
}

// StreamEvents returns up to limit rows after `after` (and at or before
// upTo when given), in log order. On PostgreSQL only rows below the
// visibility horizon are returned, so a later call never finds a row
// before one already returned.
func (s *Store) StreamEvents(ctx context.Context, after EventPos, upTo *EventPos, limit int) ([]StreamEvent, error) {
	var q string
	var args []any
	if s.Engine == Postgres {
		q = `SELECT seq, xid, kind, recommendation_id, operator_id, user_id, at FROM stream_events
WHERE (xid, seq) > (?, ?) AND xid < ` + visibleHorizon
		args = []any{after.Xid, after.Seq}
		if upTo != nil {
			q += ` AND (xid, seq) <= (?, ?)`
			args = append(args, upTo.Xid, upTo.Seq)
		}
		q += ` ORDER BY xid, seq LIMIT ?`
	} else {
		q = `SELECT seq, xid, kind, recommendation_id, operator_id, user_id, at FROM stream_events WHERE seq > ?`
		args = []any{after.Seq}
		if upTo != nil {
			q += ` AND seq <= ?`
			args = append(args, upTo.Seq)
		}
		q += ` ORDER BY seq LIMIT ?`
	}
	args = append(args, limit)
	rows, err := s.reads().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("stream events: %w", err)
	}
	defer rows.Close()
	var out []StreamEvent
	for rows.Next() {
		var e StreamEvent
		var rec, op, user sql.NullString
		var at Time
		if err := rows.Scan(&e.Pos.Seq, &e.Pos.Xid, &e.Kind, &rec, &op, &user, &at); err != nil {
			return nil, fmt.Errorf("stream events: %w", err)
		}
		e.RecommendationID, e.OperatorID, e.UserID, e.At = rec.String, op.String, user.String, at.Time
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneStream deletes stream rows older than before, and tickets that
// expired before it, a batch at a time so that no write transaction runs
// long.
func (s *Store) PruneStream(ctx context.Context, before time.Time) (int64, error) {
	const batch = 5000
	var total int64
	for {
		var n int64
		err := s.WithTx(ctx, func(tx *Tx) error {
			res, err := tx.Exec(ctx, `DELETE FROM stream_events WHERE seq IN (SELECT seq FROM stream_events WHERE at < ? ORDER BY seq LIMIT ?)`,
				s.ts(before), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune stream: %w", err)
		}
		total += n
		if n < batch {
			break
		}
	}
	err := s.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM realtime_tickets WHERE expires_at < ?`, s.ts(before))
		return err
	})
	if err != nil {
		return total, fmt.Errorf("prune tickets: %w", err)
	}
	return total, nil
}

// CreateTicket issues a single-use stream ticket for an operator, valid for ttl.
func (s *Store) CreateTicket(ctx context.Context, operatorID string, ttl time.Duration) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	ticket := base64.RawURLEncoding.EncodeToString(b[:])
	err := s.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO realtime_tickets (ticket_hash, operator_id, expires_at) VALUES (?, ?, ?)`,
			ticketHash(ticket), operatorID, s.ts(tx.Now.Add(ttl)))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create ticket: %w", err)
	}
	return ticket, nil
}

// RedeemTicket uses a ticket up (a second use fails, in any process) and
// returns its operator, who must still exist and be enabled.
func (s *Store) RedeemTicket(ctx context.Context, ticket string) (*review.Operator, error) {
	refused := review.Errorf(review.EUnauthorized, "unknown, expired or already used ticket")
	if ticket == "" || len(ticket) > 100 {
		return nil, refused
	}
	var operatorID string
	err := s.WithTx(ctx, func(tx *Tx) error {
		return tx.QueryRow(ctx, `UPDATE realtime_tickets SET used_at = ? WHERE ticket_hash = ? AND used_at IS NULL AND expires_at > ?
RETURNING operator_id`, s.ts(tx.Now), ticketHash(ticket), s.ts(tx.Now)).Scan(&operatorID)
	})
	if errors.Is(err, errNotFound) {
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("redeem ticket: %w", err)
	}
	op, err := s.GetOperator(ctx, operatorID)
	if review.ErrorCode(err) == review.ENotFound || (err == nil && op.Disabled) {
		return nil, refused
	}
	return op, err
}

func ticketHash(ticket string) string {
	h := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(h[:])
}
