package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"reflect"
	"strings"

	"modernc.org/sqlite"
)

// SQLite statement cache.
//
// database/sql hands a query with arguments straight to the driver, and the
// SQLite driver compiles it (sqlite3_prepare_v2) and throws the compiled
// statement away after every call. For the short queries of this API the
// compiling is the biggest single cost: a third of the CPU of an approval
// (ours and River's job insert) and of most reads. So every SQLite
// connection keeps its compiled statements, keyed by SQL text, in a small
// LRU cache and reuses them. (pgx does the same for PostgreSQL by default.)
//
// Only single statements with arguments are cached: scripts (migrations)
// and argument-free statements (DDL, PRAGMA, BEGIN) go straight through. A
// cached statement still producing rows is busy; running the same SQL again
// meanwhile (nested loops over one query) compiles a throwaway copy.

// stmtCacheSize is the number of compiled statements a connection keeps.
// The API has a few dozen distinct queries; list filters, bulk chunk sizes
// and River's queries add some more.
const stmtCacheSize = 256

// stmtCacheConnector opens SQLite connections with a statement cache.
type stmtCacheConnector struct {
	dsn string
	drv *sqlite.Driver
}

func newStmtCacheConnector(dsn string) *stmtCacheConnector {
	return &stmtCacheConnector{dsn: dsn, drv: &sqlite.Driver{}}
}

func (c *stmtCacheConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, driverMismatch(conn)
	}
	return &cachedConn{sqliteConn: inner, lru: list.New(), byQuery: map[string]*list.Element{}}, nil
}

func (c *stmtCacheConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type driverMismatchError struct{ t reflect.Type }

func (e driverMismatchError) Error() string {
	return "store: the SQLite driver's connection " + e.t.String() + " lacks an interface the statement cache needs"
}

func driverMismatch(c driver.Conn) error { return driverMismatchError{reflect.TypeOf(c)} }

// cachedConn is a SQLite connection with its compiled statements. database/sql
// never uses one connection from two goroutines at once, so it needs no lock.
type cachedConn struct {
	sqliteConn
	lru     *list.List // of *cachedStmt, most recently used first
	byQuery map[string]*list.Element
}

type cachedStmt struct {
	query string
	stmt  driver.Stmt
	busy  bool // rows from it are open
	gone  bool // evicted while busy: close it when the rows close
}

// cacheable: a single statement with arguments.
func cacheable(query string, args []driver.NamedValue) bool {
	if len(args) == 0 {
		return false
	}
	q := strings.TrimRight(query, " \t\r\n;")
	return !strings.Contains(q, ";")
}

// stmt returns the cached statement for query, compiling it if need be,
// or nil when it is busy (the caller then runs the query uncached).
func (c *cachedConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.byQuery[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return cs, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{query: query, stmt: st}
	c.byQuery[query] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		c.evict(c.lru.Back())
	}
	return cs, nil
}

func (c *cachedConn) evict(e *list.Element) {
	cs := e.Value.(*cachedStmt)
	c.lru.Remove(e)
	delete(c.byQuery, cs.query)
	if cs.busy {
		cs.gone = true
		return
	}
	_ = cs.stmt.Close()
}

func (c *cachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !cacheable(query, args) {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	cs, err := c.stmt(ctx, query)
	if err != nil || cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !cacheable(query, args) {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	cs, err := c.stmt(ctx, query)
	if err != nil || cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// Close closes the cached statements, then the connection.
func (c *cachedConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		cs := e.Value.(*cachedStmt)
		if !cs.busy {
			_ = cs.stmt.Close()
		}
	}
	c.lru.Init()
	clear(c.byQuery)
	return c.sqliteConn.Close()
}

// cachedRows frees its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close() // resets the statement
	r.cs.busy = false
	if r.cs.gone {
		_ = r.cs.stmt.Close()
	}
	return err
}

// The column-type interfaces database/sql looks for on rows.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
