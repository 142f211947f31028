package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Idempotency keys. A row in idempotency_keys is both the record of a first
// response and the lock that makes a repeat wait for it: BeginIdempotent
// claims (operator_id, idem_key) with an INSERT … ON CONFLICT DO NOTHING and
// a status_code of 0 ("in progress"); FinishIdempotent fills in the
// response; ReleaseIdempotent gives the key back when there is nothing worth
// replaying. Because the row lives in the shared database, the guarantee
// holds across restarts and across every process on one PostgreSQL.

// IdemState is what BeginIdempotent found.
type IdemState int

const (
	// IdemNew: the caller now owns the key and must run the request, then
	// call FinishIdempotent or ReleaseIdempotent with Started.
	IdemNew IdemState = iota
	// IdemInProgress: another request with this key has not finished yet.
	IdemInProgress
	// IdemDone: the first response is in Response; replay it.
	IdemDone
	// IdemMismatch: the key was first used for a different request.
	IdemMismatch
)

func (s IdemState) String() string {
	switch s {
	case IdemNew:
		return "new"
	case IdemInProgress:
		return "in_progress"
	case IdemDone:
		return "done"
	case IdemMismatch:
		return "mismatch"
	}
	return fmt.Sprintf("IdemState(%d)", int(s))
}

// IdemResponse is a stored first response.
type IdemResponse struct {
	Status      int
	ContentType string
	// Headers are the other response headers worth replaying (ETag, Location).
	Headers map[string]string
	Body    []byte
}

// IdemBegin is BeginIdempotent's answer.
type IdemBegin struct {
	State IdemState
	// Started identifies this attempt's claim on the key (IdemNew only):
	// pass it to FinishIdempotent / ReleaseIdempotent, which act only if the
	// claim is still this one.
	Started time.Time
	// Expired: the key had been used more than ttl ago; the old response was
	// forgotten and the key starts afresh (IdemNew).
	Expired bool
	// TookOver: an earlier attempt claimed the key more than
	// IdempotencyLease ago and never finished (its process died); this
	// attempt took the claim over (IdemNew).
	TookOver bool
	// Response is the first response (IdemDone only).
	Response IdemResponse
}

// IdempotencyLease is how long an unfinished claim on a key holds. A request
// still running after that long is presumed dead (its process was killed
// before its action committed: an action that commits records its response
// in the same transaction, IdemCommit), and a repeat may take the key over
// rather than wait for the key's whole TTL. Every request runs under the
// server's request deadline (10 s by default), so three times that is long
// past any live one; and the actions stay safe if one was merely slow:
// every state change is conditional on the status it expects.
const IdempotencyLease = 30 * time.Second

// BeginIdempotent claims key for operatorID for a request whose hash is hash,
// or reports why it cannot: a repeat of a finished request (IdemDone), one
// still running (IdemInProgress), or a different request under the same key
// (IdemMismatch). A key older than ttl counts as unused.
func (s *Store) BeginIdempotent(ctx context.Context, operatorID, key, hash string, now time.Time, ttl time.Duration) (IdemBegin, error) {
	now = now.UTC().Truncate(time.Microsecond) // what both engines keep, so Started compares equal
	var out IdemBegin
	// A row can vanish between the INSERT that conflicted with it and the
	// SELECT (its owner released it); then simply try again.
	for attempt := 0; attempt < 5; attempt++ {
		found := true
		err := s.WithTx(ctx, func(tx *Tx) error {
			res, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (operator_id, idem_key, request_hash, status_code, response_body, created_at)
VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (operator_id, idem_key) DO NOTHING`, operatorID, key, hash, s.ts(now))
			if err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				out = IdemBegin{State: IdemNew, Started: now}
				return nil
			}
			var (
				storedHash, body, ctype, headers string
				status                           int
				created                          Time
			)
			err = tx.QueryRow(ctx, `SELECT request_hash, status_code, response_body, content_type, response_headers, created_at
FROM idempotency_keys WHERE operator_id = ? AND idem_key = ?`+s.d.forUpdate(), operatorID, key).
				Scan(&storedHash, &status, &body, &ctype, &headers, &created)
			if errors.Is(err, sql.ErrNoRows) {
				found = false
				return nil
			}
			if err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			claim := func() error {
				_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET request_hash = ?, status_code = 0, response_body = '',
content_type = 'application/json', response_headers = '{}', created_at = ? WHERE operator_id = ? AND idem_key = ?`,
					hash, s.ts(now), operatorID, key)
				if err != nil {
					return fmt.Errorf("idempotency key: %w", err)
				}
				return nil
			}
			switch {
			case !created.After(now.Add(-ttl)):
				out = IdemBegin{State: IdemNew, Started: now, Expired: true}
				return claim()
			case storedHash != hash:
				out = IdemBegin{State: IdemMismatch}
			case status == 0 && !created.After(now.Add(-IdempotencyLease)):
				out = IdemBegin{State: IdemNew, Started: now, TookOver: true}
				return claim()
			case status == 0:
				out = IdemBegin{State: IdemInProgress}
			default:
				r := IdemResponse{Status: status, ContentType: ctype, Body: []byte(body)}
				if headers != "" && headers != "{}" {
					if err := json.Unmarshal([]byte(headers), &r.Headers); err != nil {
						return fmt.Errorf("idempotency key: stored headers: %w", err)
					}
				}
				out = IdemBegin{State: IdemDone, Response: r}
			}
			return nil
		})
		if err != nil {
			return IdemBegin{}, err
		}
		if found {
			return out, nil
		}
	}
	return IdemBegin{}, errors.New("idempotency key: could not claim the key")
}

// FinishIdempotent records the first response for a key claimed by
// BeginIdempotent at started. It reports false, and records nothing, when the
// claim is no longer this attempt's (it was taken over after
// IdempotencyLease, or has expired and been purged).
func (s *Store) FinishIdempotent(ctx context.Context, operatorID, key string, started time.Time, r IdemResponse) (bool, error) {
	var ok bool
	err := s.WithTx(ctx, func(tx *Tx) error {
		var err error
		ok, err = tx.finishIdempotent(ctx, operatorID, key, started, r)
		return err
	})
	return ok, err
}

// finishIdempotent is FinishIdempotent inside tx.
func (tx *Tx) finishIdempotent(ctx context.Context, operatorID, key string, started time.Time, r IdemResponse) (bool, error) {
	headers := []byte("{}")
	if len(r.Headers) > 0 {
		var err error
		if headers, err = json.Marshal(r.Headers); err != nil {
			return false, err
		}
	}
	if r.ContentType == "" {
		r.ContentType = "application/json"
	}
	if r.Status <= 0 {
		return false, fmt.Errorf("idempotency key: cannot record status %d", r.Status)
	}
	res, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status_code = ?, response_body = ?, content_type = ?, response_headers = ?
WHERE operator_id = ? AND idem_key = ? AND status_code = 0 AND created_at = ?`,
		r.Status, string(r.Body), r.ContentType, string(headers), operatorID, key, tx.s.ts(started))
	if err != nil {
		return false, fmt.Errorf("idempotency key: record response: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseIdempotent gives back a key claimed at started without recording a
// response (the request failed in a way a retry should act on), so the next
// request with the key runs afresh. A claim that is no longer this
// attempt's is left alone.
func (s *Store) ReleaseIdempotent(ctx context.Context, operatorID, key string, started time.Time) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE operator_id = ? AND idem_key = ? AND status_code = 0 AND created_at = ?`,
			operatorID, key, s.ts(started))
		if err != nil {
			return fmt.Errorf("idempotency key: release: %w", err)
		}
		return nil
	})
}

// PurgeIdempotency forgets keys first used before olderThan (now minus the
// TTL) and reports how many it deleted.
func (s *Store) PurgeIdempotency(ctx context.Context, olderThan time.Time) (int64, error) {
	var n int64
	err := s.WithLargeTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, s.ts(olderThan))
		if err != nil {
			return fmt.Errorf("purge idempotency keys: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// IdemCommit is a key claimed by BeginIdempotent whose first response is
// recorded inside the transaction of the action itself, so that the action
// and its record commit together: a process killed between the two
// transactions of the older way left an action done and its key released,
// and the client's retry with the same key was told 409 ("cannot approve
// … approved") instead of getting the first response back.
//
// The idempotency layer puts it in the request's context (WithIdemCommit);
// the handler sets Render, which turns the action's result into exactly the
// response it would send; the action calls tx.recordIdem with its result
// at the end of its transaction.
type IdemCommit struct {
	OperatorID, Key string
	Started         time.Time
	// Render makes the response from the action's result (each action
	// documents what it passes).
	Render   func(result ...any) (IdemResponse, error)
	recorded atomic.Bool
}

type idemCommitKey struct{}

// WithIdemCommit returns ctx carrying c.
func WithIdemCommit(ctx context.Context, c *IdemCommit) context.Context {
	return context.WithValue(ctx, idemCommitKey{}, c)
}

// IdemCommitFrom returns the claimed key in ctx, or nil.
func IdemCommitFrom(ctx context.Context) *IdemCommit {
	c, _ := ctx.Value(idemCommitKey{}).(*IdemCommit)
	return c
}

// Recorded reports whether the response was written in the action's
// transaction. It is only meaningful once the action has succeeded (a
// transaction that failed after it rolled the record back too).
func (c *IdemCommit) Recorded() bool { return c != nil && c.recorded.Load() }

// recordIdem records the first response of the keyed request in ctx, if
// any, in tx: called by an action as the last step of its transaction.
func (tx *Tx) recordIdem(ctx context.Context, result ...any) error {
	c := IdemCommitFrom(ctx)
	if c == nil || c.Render == nil {
		return nil
	}
	r, err := c.Render(result...)
	if err != nil {
		return fmt.Errorf("idempotency key: render response: %w", err)
	}
	ok, err := tx.finishIdempotent(ctx, c.OperatorID, c.Key, c.Started, r)
	if err != nil {
		return err
	}
	c.recorded.Store(ok)
	return nil
}
