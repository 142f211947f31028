package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Idempotency keys. A row in idempotency_keys (operator_id, idem_key) is the
// record of a keyed request's first response. It is written inside the
// transaction of the action itself, so the action and its record commit
// together or not at all:
//
//   - LookupIdempotent, a read, answers a repeat of a finished request
//     (replay) or a different request under the same key (mismatch) before
//     anything is written;
//   - otherwise the action's transaction begins by inserting the key
//     (claimIdem, run by WithTx for a request that carries an IdemCommit): on
//     PostgreSQL a concurrent request with the same key waits there until the
//     first commits, then finds its record and replays it; on SQLite the one
//     writer serialises them;
//   - the action's last step fills in the response (recordIdem);
//   - an outcome that changed nothing (a 404, a 409, a 422) is recorded
//     afterwards on its own (RecordIdempotent).
//
// Because the row lives in the shared database, the guarantee holds across
// restarts, crashes and every process on one PostgreSQL.

// IdemState is what a key already in use answers instead of the request.
type IdemState int

const (
	// IdemNew: the key is free (never used, expired, or its claim stale).
	IdemNew IdemState = iota
	// IdemInProgress: a claim made by an earlier version of the server,
	// which claimed keys in a transaction of their own, is still held.
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

// IdemAnswer is what a key in use answers: State is IdemDone (with the
// first Response), IdemMismatch or IdemInProgress.
type IdemAnswer struct {
	State    IdemState
	Response IdemResponse
}

// ErrIdemAnswered is returned by an action whose transaction found its key
// already answered (IdemCommit.Answer says how): the action was rolled back
// and did nothing.
var ErrIdemAnswered = errors.New("idempotency key: already answered by the key's first request")

// IdempotencyLease is how long a claim left unfinished by an earlier version
// of the server (which claimed keys in a transaction of their own) holds
// before a repeat may take the key over. Claims made now never outlive
// their action's transaction.
const IdempotencyLease = 30 * time.Second

// idemRow is a stored key.
type idemRow struct {
	hash, body, ctype, headers string
	status                     int
	created                    Time
}

// verdict is what the stored row answers to a request with hash at now:
// nil when the key is free for it (expired, or a stale claim).
func (r *idemRow) verdict(hash string, now time.Time, ttl time.Duration) (*IdemAnswer, error) {
	switch {
	case !r.created.After(now.Add(-ttl)):
		return nil, nil // expired: forgotten
	case r.hash != hash:
		return &IdemAnswer{State: IdemMismatch}, nil
	case r.status == 0 && !r.created.After(now.Add(-IdempotencyLease)):
		return nil, nil // an old-style claim whose process died
	case r.status == 0:
		return &IdemAnswer{State: IdemInProgress}, nil
	}
	resp := IdemResponse{Status: r.status, ContentType: r.ctype, Body: []byte(r.body)}
	if r.headers != "" && r.headers != "{}" {
		if err := json.Unmarshal([]byte(r.headers), &resp.Headers); err != nil {
			return nil, fmt.Errorf("idempotency key: stored headers: %w", err)
		}
	}
	return &IdemAnswer{State: IdemDone, Response: resp}, nil
}

const idemSelect = `SELECT request_hash, status_code, response_body, content_type, response_headers, created_at
FROM idempotency_keys WHERE operator_id = ? AND idem_key = ?`

func scanIdem(row rowScanner) (*idemRow, error) {
	var r idemRow
	err := row.Scan(&r.hash, &r.status, &r.body, &r.ctype, &r.headers, &r.created)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	return &r, nil
}

// LookupIdempotent reads what key, used by operatorID, answers to a request
// whose hash is hash: nil when the key is free, so the request should act
// (with an IdemCommit in its context). It writes nothing.
func (s *Store) LookupIdempotent(ctx context.Context, operatorID, key, hash string, now time.Time, ttl time.Duration) (*IdemAnswer, error) {
	r, err := scanIdem(s.reads().QueryRow(ctx, idemSelect, operatorID, key))
	if err != nil || r == nil {
		return nil, err
	}
	return r.verdict(hash, now, ttl)
}

// IdemCommit is a keyed request on its way to its action. The idempotency
// layer puts it in the request's context (WithIdemCommit); the handler sets
// Render, which turns the action's result into exactly the response it
// would send; WithTx then claims the key at the start of the action's
// transaction, and the action calls tx.recordIdem with its result as the
// transaction's last step.
type IdemCommit struct {
	OperatorID, Key, Hash string
	// Now is when the request arrived (the key's created_at); TTL how long
	// a key is kept.
	Now time.Time
	TTL time.Duration
	// Render makes the response from the action's result (each action
	// documents what it passes).
	Render   func(result ...any) (IdemResponse, error)
	recorded atomic.Bool
	answer   atomic.Pointer[IdemAnswer]
}

type idemCommitKey struct{}

// WithIdemCommit returns ctx carrying c.
func WithIdemCommit(ctx context.Context, c *IdemCommit) context.Context {
	return context.WithValue(ctx, idemCommitKey{}, c)
}

// IdemCommitFrom returns the keyed request in ctx, or nil.
func IdemCommitFrom(ctx context.Context) *IdemCommit {
	c, _ := ctx.Value(idemCommitKey{}).(*IdemCommit)
	return c
}

// Recorded reports whether the response was written in the action's
// transaction. It is only meaningful once the action has succeeded (a
// transaction that failed after it rolled the record back too).
func (c *IdemCommit) Recorded() bool { return c != nil && c.recorded.Load() }

// Answer is what the key answered instead of the action (the action
// returned ErrIdemAnswered), or nil.
func (c *IdemCommit) Answer() *IdemAnswer {
	if c == nil {
		return nil
	}
	return c.answer.Load()
}

// keyed wraps a write transaction's fn for a keyed request in ctx whose
// action will record its response (Render set, nothing recorded yet): the
// key is claimed first, so a concurrent request with the same key waits for
// this one before it acts; a claim the action did not go on to record is
// given back in the same transaction, so no claim ever outlives it.
func keyed(ctx context.Context, fn func(*Tx) error) func(*Tx) error {
	c := IdemCommitFrom(ctx)
	if c == nil || c.Render == nil || c.recorded.Load() {
		return fn
	}
	return func(tx *Tx) error {
		if err := tx.claimIdem(ctx, c); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		if tx.idemRecorded {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE operator_id = ? AND idem_key = ? AND status_code = 0`, c.OperatorID, c.Key)
		return err
	}
}

// claimIdem inserts c's key, unanswered, in tx, or returns ErrIdemAnswered
// (with c's Answer set) when the key is already in use.
func (tx *Tx) claimIdem(ctx context.Context, c *IdemCommit) error {
	now := c.Now.UTC().Truncate(time.Microsecond)
	// A row can vanish between the INSERT that conflicted with it and the
	// SELECT (purged, or an old-style claim released); then try again.
	for attempt := 0; attempt < 5; attempt++ {
		res, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (operator_id, idem_key, request_hash, status_code, response_body, created_at)
VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (operator_id, idem_key) DO NOTHING`, c.OperatorID, c.Key, c.Hash, tx.s.ts(now))
		if err != nil {
			return fmt.Errorf("idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			tx.idemClaimed = true
			return nil
		}
		r, err := scanIdem(tx.QueryRow(ctx, idemSelect+tx.s.d.forUpdate(), c.OperatorID, c.Key))
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		answer, err := r.verdict(c.Hash, now, c.TTL)
		if err != nil {
			return err
		}
		if answer != nil {
			c.answer.Store(answer)
			return ErrIdemAnswered
		}
		// Expired, or a stale claim: the key starts afresh.
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET request_hash = ?, status_code = 0, response_body = '',
content_type = 'application/json', response_headers = '{}', created_at = ? WHERE operator_id = ? AND idem_key = ?`,
			c.Hash, tx.s.ts(now), c.OperatorID, c.Key)
		if err != nil {
			return fmt.Errorf("idempotency key: %w", err)
		}
		tx.idemClaimed = true
		return nil
	}
	return errors.New("idempotency key: could not claim the key")
}

// recordIdem records the first response of the keyed request in ctx, if
// any, in tx: called by an action as the last step of its transaction.
func (tx *Tx) recordIdem(ctx context.Context, result ...any) error {
	c := IdemCommitFrom(ctx)
	if c == nil || c.Render == nil {
		return nil
	}
	if !tx.idemClaimed {
		if err := tx.claimIdem(ctx, c); err != nil {
			return err
		}
	}
	r, err := c.Render(result...)
	if err != nil {
		return fmt.Errorf("idempotency key: render response: %w", err)
	}
	if err := tx.finishIdem(ctx, c, r); err != nil {
		return err
	}
	tx.idemRecorded = true
	c.recorded.Store(true)
	return nil
}

// finishIdem fills in the response of c's key, claimed in tx.
func (tx *Tx) finishIdem(ctx context.Context, c *IdemCommit, r IdemResponse) error {
	headers := []byte("{}")
	if len(r.Headers) > 0 {
		var err error
		if headers, err = json.Marshal(r.Headers); err != nil {
			return err
		}
	}
	if r.ContentType == "" && len(r.Body) > 0 {
		r.ContentType = "application/json"
	}
	if r.Status <= 0 {
		return fmt.Errorf("idempotency key: cannot record status %d", r.Status)
	}
	res, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status_code = ?, response_body = ?, content_type = ?, response_headers = ?
WHERE operator_id = ? AND idem_key = ? AND status_code = 0`,
		r.Status, string(r.Body), r.ContentType, string(headers), c.OperatorID, c.Key)
	if err != nil {
		return fmt.Errorf("idempotency key: record response: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errors.New("idempotency key: the claim was lost before the response was recorded")
	}
	return nil
}

// RecordIdempotent records r as the first response of c's key when the
// request ended without its action recording one (it changed nothing: a
// 404, a 409, a 422). If the key has meanwhile been answered (a concurrent
// request with the same key), that answer stands and r is dropped.
func (s *Store) RecordIdempotent(ctx context.Context, c *IdemCommit, r IdemResponse) error {
	// ctx must not carry c, or WithTx would treat this as the action.
	return s.WithTx(context.WithoutCancel(withoutIdem(ctx)), func(tx *Tx) error {
		if err := tx.claimIdem(ctx, c); err != nil {
			if errors.Is(err, ErrIdemAnswered) {
				return nil
			}
			return err
		}
		return tx.finishIdem(ctx, c, r)
	})
}

// withoutIdem hides a keyed request's IdemCommit from ctx.
func withoutIdem(ctx context.Context) context.Context {
	return context.WithValue(ctx, idemCommitKey{}, (*IdemCommit)(nil))
}

// PurgeIdempotency forgets keys first used before olderThan (now minus the
// TTL) and reports how many it deleted.
func (s *Store) PurgeIdempotency(ctx context.Context, olderThan time.Time) (int64, error) {
	var n int64
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, s.ts(olderThan))
		if err != nil {
			return fmt.Errorf("purge idempotency keys: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
