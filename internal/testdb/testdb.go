// Package testdb gives tests real, migrated, isolated databases on every
// engine the store supports, so one suite runs unchanged against each.
//
// SQLite databases are files in t.TempDir(). PostgreSQL databases live on
// the server named by SPENDSENSE_TEST_POSTGRES_URL or, when that is unset,
// on a throwaway PostgreSQL that this package starts once per test
// process from the server binaries pgserver.Bin finds ($SPENDSENSE_PG_BIN,
// PATH, pg_config --bindir, then /usr/lib/postgresql/*/bin). A package whose tests use
// PostgreSQL must stop that server at the end of the process:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
//
// Every PostgreSQL database is a copy of one template database migrated
// once per process, so a fresh database costs a CREATE DATABASE, not a
// migration. Without server binaries or a URL the PostgreSQL half is skipped
// (loudly), unless SPENDSENSE_REQUIRE_POSTGRES=1 makes that a failure.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb/pgserver"
)

const (
	// envURL names an existing server to use instead of starting one.
	envURL = "SPENDSENSE_TEST_POSTGRES_URL"
	// envRequire=1 turns a missing PostgreSQL into a failure.
	envRequire = "SPENDSENSE_REQUIRE_POSTGRES"
)

var skipOnce sync.Once

// Engines lists the engines Each runs on: SQLite, and PostgreSQL when a
// server is configured or can be started (or is required).
func Engines() []store.Engine {
	if pgAvailable() || os.Getenv(envRequire) == "1" {
		return []store.Engine{store.SQLite, store.Postgres}
	}
	skipOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "\n*** testdb: PostgreSQL half SKIPPED: no initdb and postgres in %s, and %s unset; "+
			"set %s=1 to make this a failure ***\n\n", pgserver.Searched(), envURL, envRequire)
	})
	return []store.Engine{store.SQLite}
}

// pgAvailable reports whether PostgreSQL can be used, without starting it.
func pgAvailable() bool {
	if os.Getenv(envURL) != "" {
		return true
	}
	return pgserver.Available()
}

// Each runs fn once per engine as a subtest named after the engine, each
// with its own fresh, migrated database.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

// Open returns a fresh migrated store on engine e, closed when t ends.
func Open(t testing.TB, e store.Engine) *store.Store {
	t.Helper()
	url := URL(t, e)
	s, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", e, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", e, err)
	}
	// No job queue unless the test wires one (delivery.Service.Queue).
	if err := s.SetDeliveryQueue(store.NoDeliveryJobs); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL returns the DATABASE_URL of a fresh database on engine e, for tests
// that start real server processes against it. On SQLite it names a file
// that does not exist yet; on PostgreSQL it is a new database, already
// migrated (a copy of the template), dropped when t ends. Either way
// (*store.Store).Migrate brings it up to date.
func URL(t testing.TB, e store.Engine) string {
	t.Helper()
	switch e {
	case store.SQLite:
		return filepath.Join(t.TempDir(), "spendsense.db")
	case store.Postgres:
		return pgDatabase(t)
	}
	t.Fatalf("testdb: engine %s not available", e)
	return ""
}

// EmptyURL is URL for a database that exists (on PostgreSQL; on SQLite a
// file that does not exist yet) but has never been migrated: no tables at
// all, for tests of commands that must not migrate.
func EmptyURL(t testing.TB, e store.Engine) string {
	t.Helper()
	if e != store.Postgres {
		return URL(t, e)
	}
	pg.once.Do(func() { pg.err = pgSetup() })
	if pg.err != nil {
		t.Fatalf("testdb: PostgreSQL: %v", pg.err)
	}
	name := "test_empty_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pg.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pg.admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return dbURL(name)
}

// Main runs the tests, then stops the PostgreSQL server this process
// started (if any) and exits with the tests' code. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has its own clean-up to do before it
// exits: it runs the tests, stops the throwaway PostgreSQL and returns the
// exit code.
func Run(m *testing.M) int {
	code := m.Run()
	pg.stop()
	return code
}

// pg is the per-process PostgreSQL state, set up on first use.
var pg pgState

type pgState struct {
	once     sync.Once
	err      error
	admin    *sql.DB          // maintenance connection: CREATE/DROP DATABASE
	base     *url.URL         // URL of the server; the path is swapped per database
	template string           // migrated database every test database copies
	srv      *pgserver.Server // nil when using SPENDSENSE_TEST_POSTGRES_URL
}

// pgDatabase creates a new database from the template and returns its URL.
func pgDatabase(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.err = pgSetup() })
	if pg.err != nil {
		t.Fatalf("testdb: PostgreSQL: %v", pg.err)
	}
	name := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pg.admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, pg.template)); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pg.admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return dbURL(name)
}

// dbURL is the server's URL pointed at database name.
func dbURL(name string) string {
	u := *pg.base
	u.Path = "/" + name
	return u.String()
}

// pgSetup connects to (or starts) the server and builds the template.
func pgSetup() error {
	if !pgAvailable() {
		return fmt.Errorf("%s=1 but there are no initdb and postgres in %s and %s is unset", envRequire, pgserver.Searched(), envURL)
	}
	raw := os.Getenv(envURL)
	if raw == "" {
		srv, err := pgserver.Start()
		if err != nil {
			return err
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "testdb: PostgreSQL started on 127.0.0.1:%d in %v (%s)\n",
				srv.Port, srv.Elapsed.Round(time.Millisecond), srv.Dir)
		}
		pg.srv = srv
		raw = srv.URL("postgres")
	}
	base, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", envURL, err)
	}
	pg.base = base
	if pg.admin, err = sql.Open("pgx", raw); err != nil { // driver registered by store
		return err
	}
	pg.admin.SetMaxOpenConns(4)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg.template = "test_tpl_" + randomHex(8)
	if _, err := pg.admin.ExecContext(ctx, "CREATE DATABASE "+pg.template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	s, err := store.Open(ctx, dbURL(pg.template), store.Options{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	_, err = s.Migrate(ctx)
	// A database with open connections cannot be copied; CREATE DATABASE
	// waits a few seconds for these to go away, which is plenty.
	s.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// stop stops our own server, or drops the template from a shared one.
func (p *pgState) stop() {
	if p.admin != nil {
		if p.srv == nil && p.template != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = p.admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", p.template))
			cancel()
		}
		p.admin.Close()
	}
	if p.srv != nil {
		p.srv.Stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CheckInvariants fails t unless `spendsense check` would pass on s.
func CheckInvariants(t testing.TB, s *store.Store) {
	t.Helper()
	vs, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("invariant broken: %s (%d, e.g. %v)", v.Invariant, v.Count, v.Examples)
	}
}
