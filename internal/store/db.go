// Package store keeps SpendSense's data in SQLite (the embedded default) or
// PostgreSQL, behind one type. Almost all SQL is shared; the few places the
// engines differ live in dialect.go, so nothing above this package knows
// which database it runs on. Errors leave this package as *review.Error or
// as wrapped internal errors, never as driver errors a client could see.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DefaultSQLitePath is the embedded default database file.
const DefaultSQLitePath = "spendsense.db"

// Store is the database. Writes go through Write, reads through Read: on
// PostgreSQL they are the same pool; on SQLite, Write holds the one writer
// connection (so transactions queue in Go instead of failing with
// SQLITE_BUSY) and Read is a pool of read-only connections that WAL lets run
// beside it.
type Store struct {
	Engine Engine
	Write  *sql.DB
	Read   *sql.DB
	d      dialect
	now    func() time.Time
	queue  DeliveryQueue // approvals' jobs (SetDeliveryQueue)
	// undoWindow is how long a decision may be undone (decide.go).
	undoWindow time.Duration
	group      *groupCommitter // SQLite only: WithTx shares commits (groupcommit.go)
	ckpt       *checkpointer   // SQLite only: background WAL checkpoints (checkpoint.go)
	writeTxs   atomic.Int64    // WithTx and withLargeTx calls (WriteTransactions)
}

// Options tune Open.
type Options struct {
	// MaxConns caps the PostgreSQL pool (default 4 × GOMAXPROCS, at least 8)
	// and the SQLite read pool.
	MaxConns int
	// ReadOnly opens the database for reading only, and only if it exists:
	// SQLite without its writer (Write is the read-only pool), PostgreSQL
	// with every transaction read-only (default_transaction_read_only), so
	// that a command promising to only read (check) cannot write even by
	// mistake.
	ReadOnly bool
	// MustExist refuses to create a missing SQLite file (ReadOnly implies it).
	MustExist bool
}

// Open connects to databaseURL (see ParseURL: empty for ./spendsense.db, a
// path or sqlite:/file: URL for another SQLite file, postgres:// or
// postgresql:// for PostgreSQL). It does not migrate.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = max(8, 4*runtime.GOMAXPROCS(0))
	}
	target, err := ParseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	var s *Store
	if target.Engine == Postgres {
		s, err = openPostgres(target.URL, opts)
	} else {
		s, err = openSQLite(target.Path, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s: %w", s.Engine, err)
	}
	return s, nil
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	// temp_store(MEMORY) keeps statement journals in memory: an UPDATE
	// that fires the counter triggers or touches several indexes needs one,
	// and with the default it spilled past 64 KiB into a temp file that was
	// created, written and deleted for each statement (a tenth of the CPU
	// of a single approval in the profile).
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN, so a transaction never has to be
		// upgraded from reader to writer half way (the source of SQLITE_BUSY).
		q.Set("_txlock", "immediate")
		// A group commit (groupcommit.go) of 64 approvals dirties ~1,000
		// pages; with SQLite's default 2 MB cache the writer spilled them
		// to the WAL mid-transaction and read them back, doubling the cost
		// of each approval in a large group.
		q.Add("_pragma", "cache_size(-32768)")
		// The WAL is checkpointed in the background (checkpoint.go); the
		// committing writer only does it past walBackstopPages.
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walBackstopPages)+")")
		// When a checkpoint lets the WAL start over, its file is cut back
		// to this size rather than kept at its largest (walBound).
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(walLimit)+")")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(path string, opts Options) (*Store, error) {
	if opts.ReadOnly || opts.MustExist {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no SQLite database at %s (create it with `spendsense migrate`)", path)
		}
	}
	if opts.ReadOnly {
		r := sql.OpenDB(newStmtCacheConnector(sqliteDSN(path, true)))
		r.SetMaxOpenConns(opts.MaxConns)
		return &Store{Engine: SQLite, Write: r, Read: r, d: sqliteDialect{}, now: time.Now}, nil
	}
	// Both pools keep compiled statements per connection (stmtcache.go).
	w := sql.OpenDB(newStmtCacheConnector(sqliteDSN(path, false)))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r := sql.OpenDB(newStmtCacheConnector(sqliteDSN(path, true)))
	r.SetMaxOpenConns(opts.MaxConns)
	r.SetMaxIdleConns(opts.MaxConns)
	r.SetConnMaxLifetime(0)
	s := &Store{Engine: SQLite, Write: w, Read: r, d: sqliteDialect{}, now: time.Now}
	s.group = startGroupCommitter(s, path+"-wal")
	s.ckpt = startCheckpointer(path)
	return s, nil
}

func openPostgres(databaseURL string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if opts.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{Engine: Postgres, Write: db, Read: db, d: postgresDialect{}, now: time.Now}, nil
}

// SetClock replaces the clock (tests use a fixed one).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Now is the store's clock, truncated to the microsecond both engines keep.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Ping checks both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Write.PingContext(ctx); err != nil {
		return err
	}
	return s.Read.PingContext(ctx)
}

// Close closes the pools, after the transaction in progress.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.stop()
	}
	if s.ckpt != nil {
		s.ckpt.stop()
	}
	err := s.Write.Close()
	if s.Read != s.Write {
		err = errors.Join(err, s.Read.Close())
	}
	return err
}

// Tx is a write transaction with the store's dialect attached. Its
// statements go through the executor, so they are rebound for the engine
// and run under the context the transaction fixed; the *sql.Tx itself is
// reached only through SQLTx, for a job queue that joins the transaction.
type Tx struct {
	exec executor
	sql  *sql.Tx
	s    *Store
	Now  time.Time // fixed once per action: every row it writes agrees
	// idemClaimed, idemRecorded: this transaction holds the key of the
	// keyed request it acts for, and has recorded its response
	// (idempotency.go).
	idemClaimed, idemRecorded bool
}

// newTx wraps sqlTx; ctx, if not nil, replaces the context each statement
// is given: under group commit it is the caller's, detached from
// cancellation (see groupcommit.go).
func (s *Store) newTx(sqlTx *sql.Tx, ctx context.Context) *Tx {
	return &Tx{exec: executor{on: sqlTx, d: s.d, ctx: ctx}, sql: sqlTx, s: s, Now: s.Now()}
}

// WithTx runs fn as one atomic unit: everything it writes is committed, or
// nothing is if fn (or the commit) fails. For a keyed request (an
// IdemCommit in ctx) it is also the key's transaction (idempotency.go). On SQLite it may share the
// transaction, and the commit, with other callers' functions (group commit),
// each in its own savepoint; fn must do all its writing through tx, and
// returning means committed or rolled back either way.
func (s *Store) WithTx(ctx context.Context, fn func(tx *Tx) error) error {
	s.writeTxs.Add(1)
	fn = keyed(ctx, fn)
	if s.group != nil {
		return s.group.do(ctx, fn)
	}
	return s.runTx(ctx, fn)
}

// withLargeTx is WithTx for a function that writes many rows (bulk
// approval, ingest, purges): on SQLite it still queues behind the one
// writer but always runs in a transaction of its own, never in a group.
// Inside a group's savepoint SQLite keeps, in memory, the original of every
// page the function changes, and a few bulk approvals of 1,000 in one group
// took the server past 400 MiB.
func (s *Store) withLargeTx(ctx context.Context, fn func(tx *Tx) error) error {
	s.writeTxs.Add(1)
	fn = keyed(ctx, fn)
	if s.group != nil {
		return s.group.doAlone(ctx, fn)
	}
	return s.runTx(ctx, fn)
}

// WriteTransactions reports how many write transactions (WithTx and
// withLargeTx calls) the store has run: each is one atomic unit, its own
// transaction on PostgreSQL and its own savepoint in a shared commit on
// SQLite (groupcommit.go). Tests use it to count what one request costs.
func (s *Store) WriteTransactions() int64 { return s.writeTxs.Load() }

// runTx runs fn in a transaction of its own.
func (s *Store) runTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := s.newTx(sqlTx, ctx)
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback() // give the connection back before the panic goes on
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ts converts a time for binding as a parameter.
func (s *Store) ts(t time.Time) any { return s.d.timeArg(t) }

// tsp converts an optional time for binding.
func (s *Store) tsp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.d.timeArg(*t)
}

// Context is the context statements in tx run with: use it for work done
// on SQLTx directly (a job queue's insert).
func (tx *Tx) Context(ctx context.Context) context.Context { return tx.exec.context(ctx) }

// SQLTx is the database/sql transaction, for a job queue that inserts or
// cancels jobs inside it (River's InsertManyTx, JobCancelTx). The store's
// own statements go through Exec, Query and QueryRow.
func (tx *Tx) SQLTx() *sql.Tx { return tx.sql }

// Exec runs a statement inside tx.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.exec.Exec(ctx, query, args...)
}

// Query runs a query inside tx.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.exec.Query(ctx, query, args...)
}

// QueryRow runs a one-row query inside tx; its Scan answers errNotFound
// when there is no row.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) Row {
	return tx.exec.QueryRow(ctx, query, args...)
}

// Store returns the store tx belongs to.
func (tx *Tx) Store() *Store { return tx.s }
