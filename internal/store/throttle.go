package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Login throttling.
//
// Every login attempt is counted BEFORE its password is compared: ReserveLogin
// takes the attempt out of the caller's allowance in a transaction of its
// own, and only a success gives it back (LoginSucceeded). So N guesses sent
// at once count as N, whatever the number of processes sharing the database:
// checking first and recording the failure after the comparison let 99 of
// 100 parallel guesses through.
//
// Two allowances are kept, each as a row of login_failures:
//
//   - per account and source address ("src:<account>|<address>"): the first
//     sourceFree attempts are free, then each must wait twice as long as the
//     one before, from 1 s up to sourceMaxDelay;
//   - per account, from any address ("acct:<account>"): accountFree free,
//     then the same doubling up to accountMaxDelay.
//
// The account is the operator's id whether the login named it by id or by
// e-mail (one allowance, not two); an identifier that names no operator is
// its own account, so unknown and known names are throttled alike.
//
// What this guarantees, and why it is not a lock-out: a guesser at one
// address gets sourceFree attempts and then ever slower ones (17 in the
// first hour, then 4 an hour at the cap); guessers at many addresses share
// the account's allowance (84 an hour). The operator, at
// another address, is never slowed by a guesser at one address, and by
// guessers at many by at most accountMaxDelay per attempt; a right password
// is still refused while its own allowances say wait, since whether it is
// right is exactly what must not be tested faster.
//
// Columns, as this file uses them: failures is the attempts counted since
// the allowance was last reset, locked_until the earliest time the next
// attempt is allowed (NULL: now), window_start when the count began. An
// allowance is reset by a success, and forgotten after LoginFailureWindow
// without attempts.
const (
	sourceFree      = 5
	sourceMaxDelay  = 15 * time.Minute
	accountFree     = 20
	accountMaxDelay = time.Minute
	// LoginFailureWindow is how long an allowance must be left alone to be
	// forgotten (purgeExpired deletes it).
	LoginFailureWindow = time.Hour
)

// loginTime formats a time for login_failures, whose timestamp columns are
// fixed-width UTC text on both engines (so text order is time order).
func loginTime(t time.Time) string { return SQLiteTime(t) }

func loginKey(key string) string { return strings.ToLower(strings.TrimSpace(key)) }

// loginKeys are account's two allowances, the account's first: every
// reservation locks them in this order, so two never wait on each other.
func loginKeys(account, source string) [2]string {
	a := loginKey(account)
	return [2]string{"acct:" + a, "src:" + a + "|" + source}
}

// loginDelay is how long after its n-th counted attempt an allowance with
// free free attempts makes the next one wait.
func loginDelay(n, free int, max time.Duration) time.Duration {
	if n < free {
		return 0
	}
	d := time.Second
	for i := free; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// ReserveLogin counts one login attempt for account from source at now, or,
// when either allowance says wait, refuses it without counting and says for
// how long (rounded up to a whole second).
func (s *Store) ReserveLogin(ctx context.Context, account, source string, now time.Time) (retryAfter time.Duration, ok bool, err error) {
	if loginKey(account) == "" {
		return 0, false, review.Errorf(review.EInvalid, "login account must not be empty")
	}
	keys := loginKeys(account, source)
	// A refusal needs no write: read first, and only an attempt that may
	// go ahead takes the write transaction (which reads again, locked).
	// A flood of guesses at a throttled account then costs reads.
	if wait, err := s.loginWait(ctx, keys, now); err != nil || wait > 0 {
		return roundUp(wait), false, err
	}
	policy := [2]struct {
		free int
		max  time.Duration
	}{{accountFree, accountMaxDelay}, {sourceFree, sourceMaxDelay}}
	err = s.WithTx(ctx, func(tx *Tx) error {
		var failures [2]int
		var next [2]NullTime
		for i, key := range keys {
			// One statement creates the row or locks the existing one and
			// reads it: nothing can delete it in between.
			var start Time
			if err := tx.QueryRow(ctx, `INSERT INTO login_failures (login_key, failures, window_start, locked_until)
VALUES (?, 0, ?, NULL) ON CONFLICT (login_key) DO UPDATE SET login_key = excluded.login_key
RETURNING failures, window_start, locked_until`, key, loginTime(now)).Scan(&failures[i], &start, &next[i]); err != nil {
				return fmt.Errorf("reserve login: %w", err)
			}
			if next[i].Valid && now.Sub(next[i].Time) >= LoginFailureWindow {
				failures[i], next[i].Valid = 0, false // left alone long enough: forgotten
			}
			if next[i].Valid && next[i].Time.After(now) {
				retryAfter = max(retryAfter, next[i].Time.Sub(now))
			}
		}
		if retryAfter > 0 {
			return nil
		}
		ok = true
		for i, key := range keys {
			n := failures[i] + 1
			var until any
			if d := loginDelay(n, policy[i].free, policy[i].max); d > 0 {
				until = loginTime(now.Add(d))
			} else {
				until = loginTime(now)
			}
			if _, err := tx.Exec(ctx, `UPDATE login_failures SET failures = ?, locked_until = ?,
window_start = CASE WHEN failures = 0 THEN ? ELSE window_start END WHERE login_key = ?`,
				n, until, loginTime(now), key); err != nil {
				return fmt.Errorf("reserve login: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return roundUp(retryAfter), ok, nil
}

// roundUp rounds a wait up to a whole second (Retry-After's unit).
func roundUp(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// loginWait is how long keys say the next attempt must wait, read without
// locking (ReserveLogin checks again under the lock).
func (s *Store) loginWait(ctx context.Context, keys [2]string, now time.Time) (time.Duration, error) {
	rows, err := s.reads().Query(ctx, `SELECT locked_until FROM login_failures WHERE login_key IN (?, ?) AND locked_until IS NOT NULL`, keys[0], keys[1])
	if err != nil {
		return 0, fmt.Errorf("login wait: %w", err)
	}
	defer rows.Close()
	var wait time.Duration
	for rows.Next() {
		var next NullTime
		if err := rows.Scan(&next); err != nil {
			return 0, fmt.Errorf("login wait: %w", err)
		}
		if next.Valid && next.Time.After(now) && next.Time.Sub(now) < LoginFailureWindow {
			wait = max(wait, next.Time.Sub(now))
		}
	}
	return wait, rows.Err()
}

// LoginSucceeded resets account's allowances after a successful login from
// source: the operator has shown the password, so earlier failures, theirs
// or a guesser's, no longer count against the account. The rows are reset
// rather than deleted, so that a concurrent reservation never finds its
// row gone.
func (s *Store) LoginSucceeded(ctx context.Context, account, source string, now time.Time) error {
	keys := loginKeys(account, source)
	return s.WithTx(ctx, func(tx *Tx) error {
		for _, key := range keys {
			if _, err := tx.Exec(ctx, `UPDATE login_failures SET failures = 0, locked_until = NULL, window_start = ? WHERE login_key = ?`,
				loginTime(now), key); err != nil {
				return fmt.Errorf("login succeeded: %w", err)
			}
		}
		return nil
	})
}
