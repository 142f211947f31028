package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// riverMigrationLock is the PostgreSQL advisory lock key held while River's
// migrations run, so several processes starting at once apply them once.
// ("river" in ASCII, which no other lock in this program uses.)
const riverMigrationLock = 0x7269766572

// Migrate applies every pending schema migration: ours (goose), then River's
// (rivermigrate), which create the job queue's tables. Running it again is a
// no-op. On PostgreSQL a session advisory lock lets several processes start
// at once: one migrates, the others wait and then find nothing to do. On
// SQLite, River's migrations run in one BEGIN IMMEDIATE transaction, which
// SQLite's write lock serializes across processes the same way; goose has no
// SQLite lock, so there a process that loses the race to another (an API-only
// and a worker-only process starting together on a new file) fails the
// version it raced for, rolls it back, and tries again, to find it applied.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	if s.Engine != SQLite {
		return s.migrate(ctx)
	}
	for attempt := 1; ; attempt++ {
		applied, err = s.migrate(ctx)
		if err == nil || attempt == 5 || ctx.Err() != nil {
			return applied, err
		}
		select {
		case <-ctx.Done():
			return applied, err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

func (s *Store) migrate(ctx context.Context) (applied int, err error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.Engine == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return 0, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(dialect, s.Write, fsys, opts...)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	n, err := s.migrateRiver(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate river: %w", err)
	}
	// Audit rows from before the hash chains get linked once; a no-op
	// (one index probe) afterwards, and resumed if it was interrupted.
	if _, err := s.chainLegacyAudit(ctx, legacyChainBatch, -1); err != nil {
		return len(results) + n, fmt.Errorf("chain audit rows: %w", err)
	}
	return len(results) + n, nil
}

// RiverDriver is the River driver for this store's write pool.
//
// Every store transaction is a *sql.Tx (Tx.SQLTx), and the delivery job
// must be inserted inside the approving transaction, so River runs on its
// database/sql drivers on both engines: riversqlite on SQLite and
// riverdatabasesql on PostgreSQL (which runs on pgx through pgx's stdlib
// driver, the one this store opens). Neither listens for notifications, so
// River's clients poll for new jobs (see the delivery package).
//
// On SQLite the write pool is a single connection whose transactions begin
// IMMEDIATE, which is what River's SQLite driver asks for (one connection, no
// SQLITE_BUSY); reads go to the separate read-only pool, so they are not
// serialized behind River or behind writes.
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if s.Engine == Postgres {
		return riverdatabasesql.New(s.Write)
	}
	return riversqlite.New(s.Write)
}

// migrateRiver applies River's own migrations and returns how many it applied.
func (s *Store) migrateRiver(ctx context.Context) (int, error) {
	m, err := rivermigrate.New(s.RiverDriver(), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	if s.Engine == SQLite {
		// SQLite DDL is transactional: checking what is applied and applying
		// the rest in one write transaction makes concurrent migrators safe.
		var res *rivermigrate.MigrateResult
		err := s.withLargeTx(ctx, func(tx *Tx) error {
			var err error
			res, err = m.MigrateTx(tx.Context(ctx), tx.SQLTx(), rivermigrate.DirectionUp, nil) //nolint:staticcheck // see above
			return err
		})
		if err != nil {
			return 0, err
		}
		return len(res.Versions), nil
	}
	// PostgreSQL: some River migrations must commit separately, so Migrate
	// (one transaction per version) runs under a session advisory lock held
	// on a connection of its own.
	conn, err := s.Write.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(riverMigrationLock)); err != nil {
		return 0, err
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(riverMigrationLock))
	}()
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}

// PendingMigrations lists the migrations (ours and River's) not yet applied,
// reading only: goose's and River's own checks create their bookkeeping
// tables first, which a read-only command (check) must not do. Empty means
// the schema is current.
func (s *Store) PendingMigrations(ctx context.Context) ([]string, error) {
	dir := "migrations/sqlite"
	if s.Engine == Postgres {
		dir = "migrations/postgres"
	}
	files, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	applied := map[int64]bool{}
	exists, err := s.tableExists(ctx, "goose_db_version")
	if err != nil {
		return nil, err
	}
	if exists {
		rows, err := s.reads().Query(ctx, `SELECT version_id FROM goose_db_version WHERE is_applied = ?`, true)
		if err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				return nil, fmt.Errorf("read applied migrations: %w", err)
			}
			applied[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
	}
	var pending []string
	for _, f := range files {
		name := path.Base(f)
		v, err := strconv.ParseInt(strings.SplitN(name, "_", 2)[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration file %s: %w", name, err)
		}
		if !applied[v] {
			pending = append(pending, strings.TrimSuffix(name, ".sql"))
		}
	}
	// River's versions, read the same way (river_migration, line "main").
	m, err := rivermigrate.New(s.RiverDriver(), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	riverApplied := map[int]bool{}
	if exists, err = s.tableExists(ctx, "river_migration"); err != nil {
		return nil, err
	}
	if exists {
		rows, err := s.reads().Query(ctx, `SELECT version FROM river_migration WHERE line = 'main'`)
		if err != nil {
			return nil, fmt.Errorf("read applied river migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, fmt.Errorf("read applied river migrations: %w", err)
			}
			riverApplied[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read applied river migrations: %w", err)
		}
	}
	for _, mig := range m.AllVersions() {
		if !riverApplied[mig.Version] {
			pending = append(pending, fmt.Sprintf("river_%03d_%s", mig.Version, mig.Name))
		}
	}
	return pending, nil
}

func (s *Store) tableExists(ctx context.Context, name string) (bool, error) {
	var n int
	if err := s.reads().QueryRow(ctx, s.d.tableExists(), name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}
