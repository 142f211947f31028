package store

import (
	"context"
	"database/sql"
	"errors"
)

// executor is the one way the store's SQL reaches the driver, on a pool
// (reads) or on a transaction (Tx). The SQL is written once with ?
// placeholders; the executor rebinds them for the engine, runs a
// transaction's statements under the context the transaction fixed (under
// group commit, the caller's, detached from cancellation), and turns the
// driver's "no row" into errNotFound, so nothing above it knows which
// driver answered.
type executor struct {
	on  conn
	d   dialect
	ctx context.Context // if set, replaces the caller's context
}

// conn is what a pool (*sql.DB) and a transaction (*sql.Tx) share.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reads is the executor over the read pool.
func (s *Store) reads() executor { return executor{on: s.Read, d: s.d} }

func (e executor) context(ctx context.Context) context.Context {
	if e.ctx != nil {
		return e.ctx
	}
	return ctx
}

// Exec runs a statement.
func (e executor) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return e.on.ExecContext(e.context(ctx), e.d.rebind(query), args...)
}

// Query runs a query that returns rows.
func (e executor) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return e.on.QueryContext(e.context(ctx), e.d.rebind(query), args...)
}

// QueryRow runs a query that returns at most one row; its Scan answers
// errNotFound when there is none.
func (e executor) QueryRow(ctx context.Context, query string, args ...any) Row {
	return Row{e.on.QueryRowContext(e.context(ctx), e.d.rebind(query), args...)}
}

// Row is the result of QueryRow.
type Row struct{ r *sql.Row }

// Scan copies the row's columns into dest; no row is errNotFound.
func (r Row) Scan(dest ...any) error { return interpretError(r.r.Scan(dest...)) }

// errNotFound is a one-row query that found no row. The caller says what
// was missing (review.NotFound and the like) or that absence is an answer.
var errNotFound = errors.New("no row")

// interpretError normalises a driver error at the executor's edge.
func interpretError(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	return err
}
