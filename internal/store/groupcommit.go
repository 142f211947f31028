package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// Group commit for SQLite.
//
// SQLite has one writer. With one transaction per action, every approval
// pays for its own BEGIN and COMMIT and writes its own copy of the pages all
// actions share (the counters, the ends of the audit, delivery and job
// tables and their indexes) into the WAL: on the benchmark that was 30% of
// the writer's CPU, and the writer is the ceiling for actions.
//
// So on SQLite, WithTx hands its function to one committer goroutine.
// Whatever arrived while the previous transaction committed runs together in
// one transaction, each function inside its own SAVEPOINT: a function that
// fails is rolled back to its savepoint alone and its caller gets its error,
// the others are unaffected. Every caller is answered only after the COMMIT,
// so nothing is acknowledged before it is durable, and each action is still
// atomic: all of its rows or none. A function runs with a context detached
// from its caller's cancellation, because SQLite answers an interrupted
// statement by rolling back the whole transaction, which would undo the
// neighbours' work too. A caller that has gone before its turn is dropped.

// maxGroup bounds how many functions share one commit, so one commit's
// latency stays small even when a queue has built up.
const maxGroup = 64

// errStoreClosed answers WithTx after Close.
var errStoreClosed = errors.New("store: closed")

type txRequest struct {
	ctx   context.Context
	fn    func(*Tx) error
	alone bool       // withLargeTx: never grouped
	done  chan error // buffered: the committer never blocks on a caller
}

type groupCommitter struct {
	s    *Store
	wal  walBound
	reqs chan *txRequest // unbuffered: a send completes only when the committer takes it
	quit chan struct{}
	done chan struct{}

	transactions, actions atomic.Int64 // for groupCommitStats
}

// groupCommitStats reports how many write transactions the SQLite group
// committer has run and how many WithTx functions they held between them
// (actions/transactions is the mean group size). Both are 0 on PostgreSQL.
func (s *Store) groupCommitStats() (transactions, actions int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.transactions.Load(), s.group.actions.Load()
}

func startGroupCommitter(s *Store, walPath string) *groupCommitter {
	g := &groupCommitter{s: s, wal: walBound{path: walPath}, reqs: make(chan *txRequest), quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

// do queues fn and waits for its transaction's outcome.
func (g *groupCommitter) do(ctx context.Context, fn func(*Tx) error) error {
	return g.send(&txRequest{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// doAlone is do for a function that must have a transaction of its own.
func (g *groupCommitter) doAlone(ctx context.Context, fn func(*Tx) error) error {
	return g.send(&txRequest{ctx: ctx, fn: fn, alone: true, done: make(chan error, 1)})
}

func (g *groupCommitter) send(r *txRequest) error {
	ctx := r.ctx
	select {
	case g.reqs <- r:
	case <-g.quit:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, the request runs (or is dropped as cancelled) and is
	// answered: waiting for the answer keeps "returned" meaning "committed
	// or rolled back", never "still in flight".
	return <-r.done
}

// stop ends the committer after the transaction in progress.
func (g *groupCommitter) stop() {
	close(g.quit)
	<-g.done
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	batch := make([]*txRequest, 0, maxGroup)
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.quit:
			return
		}
	gather:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		g.run(batch)
		g.wal.check(g.s.Write)
	}
}

// run commits one group and answers every request in it.
func (g *groupCommitter) run(batch []*txRequest) {
	live := batch[:0]
	var alone []*txRequest
	for _, r := range batch {
		switch {
		case r.ctx.Err() != nil:
			r.done <- r.ctx.Err()
		case r.alone:
			alone = append(alone, r)
		default:
			live = append(live, r)
		}
	}
	defer func() {
		for _, r := range alone {
			g.transactions.Add(1)
			g.actions.Add(1)
			r.done <- g.runAlone(r)
		}
	}()
	if len(live) == 0 {
		return
	}
	g.transactions.Add(1)
	g.actions.Add(int64(len(live)))
	if len(live) == 1 { // alone: no savepoint needed
		r := live[0]
		r.done <- g.runAlone(r)
		return
	}
	ctx := context.Background()
	sqlTx, err := g.s.Write.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	results := make([]error, len(live))
	for i, r := range live {
		tx := g.s.newTx(sqlTx, context.WithoutCancel(r.ctx))
		fnErr, txErr := runInSavepoint(ctx, tx, r.fn)
		if txErr != nil {
			// The transaction itself is broken (SQLite rolled it back, or
			// a savepoint could not be undone): the requests that ran are
			// lost with it and fail; the rest run on their own.
			_ = sqlTx.Rollback()
			for j := 0; j <= i; j++ {
				live[j].done <- fmt.Errorf("group transaction aborted: %w", txErr)
			}
			for _, rest := range live[i+1:] {
				rest.done <- g.runAlone(rest)
			}
			return
		}
		results[i] = fnErr
	}
	if err := sqlTx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	for i, r := range live {
		r.done <- results[i]
	}
}

// runAlone runs r in a transaction of its own, answering for its caller
// as a group would: detached from cancellation, a panic made an error.
func (g *groupCommitter) runAlone(r *txRequest) error {
	return g.s.runTx(context.WithoutCancel(r.ctx), func(tx *Tx) error { return callRecovering(r.fn, tx) })
}

// runInSavepoint runs fn inside a savepoint of tx, undoing it if fn fails.
// fnErr is fn's own failure (its work is undone, the transaction goes on);
// txErr means the transaction can no longer be used.
func runInSavepoint(ctx context.Context, tx *Tx, fn func(*Tx) error) (fnErr, txErr error) {
	if _, err := tx.sql.ExecContext(ctx, "SAVEPOINT action"); err != nil {
		return nil, err
	}
	fnErr = callRecovering(fn, tx)
	if fnErr != nil {
		if _, err := tx.sql.ExecContext(ctx, "ROLLBACK TO action"); err != nil {
			return fnErr, fmt.Errorf("%w (rolling back to the savepoint after: %v)", err, fnErr)
		}
	}
	if _, err := tx.sql.ExecContext(ctx, "RELEASE action"); err != nil {
		return fnErr, err
	}
	return fnErr, nil
}

// callRecovering runs fn, turning a panic into an error: on the committer
// goroutine a panic would take every other caller's transaction, and the
// server, with it.
func callRecovering(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in transaction: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}
