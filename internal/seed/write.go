package seed

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/spendsense/operator-api/internal/store"
)

// sqliteMaxVars is SQLite's limit on parameters in one statement.
const sqliteMaxVars = 32766

// sqliteRowsPerStmt caps the rows of one INSERT: past a few hundred rows a
// bigger statement stops paying for itself.
const sqliteRowsPerStmt = 500

func insertSQL(t *table, rows int) string {
	var b strings.Builder
	one := "(" + strings.Repeat("?,", len(t.cols)-1) + "?)"
	b.Grow(len(t.name) + 32 + rows*(len(one)+1) + 20*len(t.cols))
	b.WriteString("INSERT INTO ")
	b.WriteString(t.name)
	b.WriteString(" (")
	b.WriteString(strings.Join(t.cols, ", "))
	b.WriteString(") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// writeSQLite streams chunks into SQLite over the store's one writer
// connection, in one transaction: secondary indexes are dropped first and
// rebuilt at the end (sorting once beats updating nine indexes row by row),
// rows go in as multi-row INSERTs prepared once, durability is relaxed
// (synchronous=OFF) and, when no one else has the file open, the journal
// is switched from WAL to a rollback journal for the duration, so that
// every page is written once instead of to the WAL and again at checkpoint.
// DDL is transactional in SQLite: if the seed fails, the rollback brings
// the indexes back with the empty tables.
func writeSQLite(ctx context.Context, s *store.Store, chunks <-chan *chunk, progress func(*chunk)) (err error) {
	conn, err := s.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close()

	// Per-connection settings for the load, put back afterwards: no fsync
	// (a crash mid-seed rolls the seed back, see below), a 256 MiB page
	// cache, and a helper thread for the sorts that build the indexes.
	pragmas := []struct {
		name string
		seed int
		was  int
	}{{name: "synchronous", seed: 0}, {name: "cache_size", seed: -262144}, {name: "threads", seed: 1}}
	for i := range pragmas {
		p := &pragmas[i]
		if err := conn.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&p.was); err != nil {
			return fmt.Errorf("seed: read PRAGMA %s: %w", p.name, err)
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA %s = %d", p.name, p.seed)); err != nil {
			return fmt.Errorf("seed: set PRAGMA %s: %w", p.name, err)
		}
	}
	defer func() {
		for _, p := range pragmas {
			_, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA %s = %d", p.name, p.was))
			if err == nil && rerr != nil {
				err = fmt.Errorf("seed: restore PRAGMA %s: %w", p.name, rerr)
			}
		}
	}()

	rollbackJournal := leaveWAL(ctx, s, conn)
	if rollbackJournal {
		defer func() {
			if rerr := backToWAL(context.WithoutCancel(ctx), conn); err == nil && rerr != nil {
				err = rerr
			}
		}()
	}

	w := &sqliteWriter{conn: conn}
	defer w.rollback()
	if err := w.begin(ctx); err != nil {
		return err
	}
	var recs, users int
	if err := w.tx.QueryRowContext(ctx, emptyCheck).Scan(&recs, &users); err != nil {
		return fmt.Errorf("seed: check empty: %w", err)
	}
	if err := notEmptyErr(recs, users); err != nil {
		return err
	}
	indexes, err := w.dropIndexes(ctx)
	if err != nil {
		return err
	}
	for c := range chunks {
		if err := w.add(ctx, c); err != nil {
			return err
		}
		progress(c)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := w.tx.ExecContext(ctx, ix); err != nil {
			return fmt.Errorf("seed: rebuild index: %w", err)
		}
	}
	if err := w.commit(ctx); err != nil {
		return err
	}
	if !rollbackJournal {
		// Copy the seed out of the WAL and shrink it, unless a reader still
		// needs it (then the next checkpoints finish the job).
		err := impatient(ctx, conn, func() error {
			_, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			return err
		})
		if err != nil {
			return fmt.Errorf("seed: checkpoint: %w", err)
		}
	}
	return nil
}

// leaveWAL switches the database to a rollback journal if conn is the only
// connection to it, and reports whether it did. The store's idle read
// connections are closed first (the read pool reopens them on demand); a
// reader in use, or another process, keeps the database in WAL mode.
func leaveWAL(ctx context.Context, s *store.Store, conn *sql.Conn) bool {
	if s.Read != nil && s.Read != s.Write {
		if n := s.Read.Stats().MaxOpenConnections; n > 0 {
			s.Read.SetMaxIdleConns(0)
			defer s.Read.SetMaxIdleConns(n) // what store.Open sets
		}
	}
	var mode string
	// Don't wait the busy timeout out for a reader: fall back at once.
	err := impatient(ctx, conn, func() error {
		return conn.QueryRowContext(ctx, "PRAGMA journal_mode = TRUNCATE").Scan(&mode)
	})
	return err == nil && mode == "truncate"
}

// impatient runs fn with conn's busy timeout cut to 100 ms.
func impatient(ctx context.Context, conn *sql.Conn, fn func() error) error {
	var timeout int
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 100"); err != nil {
		return err
	}
	err := fn()
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", timeout)); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// backToWAL restores WAL mode, waiting a little for readers that came along
// meanwhile.
func backToWAL(ctx context.Context, conn *sql.Conn) error {
	var err error
	for range 50 {
		var mode string
		if err = conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err == nil {
			if mode == "wal" {
				return nil
			}
			err = fmt.Errorf("journal mode is %q", mode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("seed: data committed, but switching the database back to WAL failed (it will be on the next connection): %w", err)
}

// dropIndexes drops the secondary indexes of the seeded tables (not the
// ones behind primary keys and UNIQUE constraints) and returns the
// statements that recreate them.
func (w *sqliteWriter) dropIndexes(ctx context.Context) ([]string, error) {
	names := make([]string, nTables)
	for t := range nTables {
		names[t] = "'" + tables[t].name + "'"
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (`+
		strings.Join(names, ", ")+`) ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("seed: list indexes: %w", err)
	}
	var drop, create []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return nil, fmt.Errorf("seed: list indexes: %w", err)
		}
		drop = append(drop, `DROP INDEX "`+name+`"`)
		create = append(create, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seed: list indexes: %w", err)
	}
	for _, q := range drop {
		if _, err := w.tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("seed: %s: %w", q, err)
		}
	}
	return create, nil
}

type sqliteWriter struct {
	conn    *sql.Conn
	tx      *sql.Tx
	stmts   [nTables]*sql.Stmt
	pending [nTables][]any
}

func (w *sqliteWriter) begin(ctx context.Context) error {
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	w.tx = tx
	// Rows of one table may reach the database before the rows they point
	// at (batches fill at different rates): check foreign keys at commit.
	if _, err := tx.ExecContext(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func rowsPerStmt(t int) int { return min(sqliteRowsPerStmt, sqliteMaxVars/len(tables[t].cols)) }

// add queues c's rows and runs every full batch.
func (w *sqliteWriter) add(ctx context.Context, c *chunk) error {
	for t := range nTables {
		if len(c.v[t]) == 0 {
			continue
		}
		width := len(tables[t].cols)
		batch := rowsPerStmt(t) * width
		vals := c.v[t]
		if len(w.pending[t]) > 0 {
			w.pending[t] = append(w.pending[t], vals...)
			vals = w.pending[t]
		}
		for len(vals) >= batch {
			if err := w.execFull(ctx, t, vals[:batch]); err != nil {
				return err
			}
			vals = vals[batch:]
		}
		w.pending[t] = append(w.pending[t][:0], vals...)
	}
	return nil
}

func (w *sqliteWriter) execFull(ctx context.Context, t int, vals []any) error {
	if w.stmts[t] == nil {
		st, err := w.tx.PrepareContext(ctx, insertSQL(&tables[t], rowsPerStmt(t)))
		if err != nil {
			return fmt.Errorf("seed: prepare %s: %w", tables[t].name, err)
		}
		w.stmts[t] = st
	}
	if _, err := w.stmts[t].ExecContext(ctx, vals...); err != nil {
		return fmt.Errorf("seed: insert %s: %w", tables[t].name, err)
	}
	return nil
}

// flush writes what is queued.
func (w *sqliteWriter) flush(ctx context.Context) error {
	for t := range nTables {
		if vals := w.pending[t]; len(vals) > 0 {
			if _, err := w.tx.ExecContext(ctx, insertSQL(&tables[t], len(vals)/len(tables[t].cols)), vals...); err != nil {
				return fmt.Errorf("seed: insert %s: %w", tables[t].name, err)
			}
			w.pending[t] = w.pending[t][:0]
		}
	}
	return nil
}

// commit commits the transaction.
func (w *sqliteWriter) commit(ctx context.Context) error {
	w.closeStmts()
	err := w.tx.Commit()
	w.tx = nil
	if err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	return nil
}

func (w *sqliteWriter) closeStmts() {
	for t, st := range w.stmts {
		if st != nil {
			st.Close()
			w.stmts[t] = nil
		}
	}
}

func (w *sqliteWriter) rollback() {
	if w.tx != nil {
		w.closeStmts()
		_ = w.tx.Rollback()
		w.tx = nil
	}
}

// writePostgres streams chunks into PostgreSQL with COPY, in one
// transaction: the seeded tables' foreign keys and secondary indexes are
// dropped first and put back at the end (one validating join and one
// sorted build each, instead of a trigger and nine index updates per row),
// then the tables are analysed so the planner knows their size. DDL is
// transactional: a failed seed rolls back to the empty tables with every
// constraint and index in place.
func writePostgres(ctx context.Context, s *store.Store, chunks <-chan *chunk, progress func(*chunk)) error {
	conn, err := s.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("seed: unexpected PostgreSQL driver connection %T", dc)
		}
		pc := sc.Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("seed: begin: %w", err)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		for _, q := range []string{
			"SET LOCAL synchronous_commit = off",
			"SET LOCAL maintenance_work_mem = '256MB'",
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("seed: %s: %w", q, err)
			}
		}
		var recs, users int
		if err := tx.QueryRow(ctx, emptyCheck).Scan(&recs, &users); err != nil {
			return fmt.Errorf("seed: check empty: %w", err)
		}
		if err := notEmptyErr(recs, users); err != nil {
			return err
		}
		restore, err := pgDropConstraints(ctx, tx)
		if err != nil {
			return err
		}
		for c := range chunks {
			for t := range nTables {
				if len(c.v[t]) == 0 {
					continue
				}
				src := &flatRows{vals: c.v[t], width: len(tables[t].cols), i: -1}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{tables[t].name}, tables[t].cols, src); err != nil {
					return fmt.Errorf("seed: copy %s: %w", tables[t].name, err)
				}
			}
			progress(c)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, q := range restore {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("seed: %s: %w", q, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("seed: commit: %w", err)
		}
		names := make([]string, nTables)
		for t := range nTables {
			names[t] = tables[t].name
		}
		if _, err := pc.Exec(ctx, "ANALYZE "+strings.Join(names, ", ")); err != nil {
			return fmt.Errorf("seed: analyze: %w", err)
		}
		return nil
	})
}

// pgDropConstraints drops the foreign keys and the secondary indexes (not
// those behind primary keys and UNIQUE constraints) of the seeded tables,
// and returns the statements that put them back, indexes first.
func pgDropConstraints(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rels := make([]string, nTables)
	for t := range nTables {
		rels[t] = "'" + tables[t].name + "'::regclass"
	}
	in := "(" + strings.Join(rels, ", ") + ")"
	type item struct{ drop, create string }
	var fks, idx []item
	rows, err := tx.Query(ctx, `SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
 format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint WHERE contype = 'f' AND conrelid IN `+in+` ORDER BY conrelid::regclass::text, conname`)
	if err != nil {
		return nil, fmt.Errorf("seed: list foreign keys: %w", err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.drop, &it.create); err != nil {
			rows.Close()
			return nil, err
		}
		fks = append(fks, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seed: list foreign keys: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i WHERE i.indrelid IN `+in+`
 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY i.indexrelid::regclass::text`)
	if err != nil {
		return nil, fmt.Errorf("seed: list indexes: %w", err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.drop, &it.create); err != nil {
			rows.Close()
			return nil, err
		}
		idx = append(idx, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seed: list indexes: %w", err)
	}
	var restore []string
	for _, it := range append(fks, idx...) {
		if _, err := tx.Exec(ctx, it.drop); err != nil {
			return nil, fmt.Errorf("seed: %s: %w", it.drop, err)
		}
	}
	for _, it := range idx {
		restore = append(restore, it.create)
	}
	for _, it := range fks {
		restore = append(restore, it.create)
	}
	return restore, nil
}

// flatRows is a pgx.CopyFromSource over a flattened row buffer.
type flatRows struct {
	vals  []any
	width int
	i     int
}

func (f *flatRows) Next() bool {
	f.i++
	return (f.i+1)*f.width <= len(f.vals)
}

func (f *flatRows) Values() ([]any, error) { return f.vals[f.i*f.width : (f.i+1)*f.width], nil }
func (f *flatRows) Err() error             { return nil }
