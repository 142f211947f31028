package testdb_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestEngines(t *testing.T) {
	got := testdb.Engines()
	if len(got) == 0 || got[0] != store.SQLite {
		t.Fatalf("Engines() = %v, want sqlite first", got)
	}
	if os.Getenv("SPENDSENSE_REQUIRE_POSTGRES") == "1" && !slices.Contains(got, store.Postgres) {
		t.Fatalf("Engines() = %v, but PostgreSQL is required", got)
	}
}

// Each yields one migrated, empty store per engine, in a subtest named
// after it.
func TestEachGivesMigratedEmptyStore(t *testing.T) {
	var seen []store.Engine
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		seen = append(seen, s.Engine)
		if want := string(s.Engine); !strings.HasSuffix(t.Name(), "/"+want) {
			t.Errorf("subtest %q runs engine %s", t.Name(), s.Engine)
		}
		var n int
		if err := s.Read.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM recommendations").Scan(&n); err != nil {
			t.Fatalf("count recommendations: %v", err)
		}
		if n != 0 {
			t.Errorf("recommendations has %d rows, want 0", n)
		}
	})
	if !slices.Equal(seen, testdb.Engines()) {
		t.Errorf("Each ran on %v, want %v", seen, testdb.Engines())
	}
}

// Two Opens on one engine are two databases: a row written to one is not
// in the other.
func TestOpenIsIsolated(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			a, b := testdb.Open(t, e), testdb.Open(t, e)
			if a.Engine != e || b.Engine != e {
				t.Fatalf("Open(%s) gave engines %s and %s", e, a.Engine, b.Engine)
			}
			addUser(t, a, "u1")
			if n := countUsers(t, a); n != 1 {
				t.Errorf("first database has %d users, want 1", n)
			}
			if n := countUsers(t, b); n != 0 {
				t.Errorf("second database has %d users, want 0: not isolated", n)
			}
		})
	}
}

// Many tests create databases at once; each gets its own.
func TestOpenConcurrently(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			for i := range 8 {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Parallel()
					s := testdb.Open(t, e)
					addUser(t, s, fmt.Sprintf("u%d", i))
					if n := countUsers(t, s); n != 1 {
						t.Errorf("database has %d users, want 1", n)
					}
				})
			}
		})
	}
}

func TestURL(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			u1, u2 := testdb.URL(t, e), testdb.URL(t, e)
			if u1 == u2 {
				t.Errorf("two URLs are the same: %s", u1)
			}
			if e == store.Postgres && !strings.HasPrefix(u1, "postgres://") {
				t.Errorf("URL = %q, want a postgres:// URL", u1)
			}
			s, err := store.Open(context.Background(), u1, store.Options{})
			if err != nil {
				t.Fatalf("open %s: %v", u1, err)
			}
			defer s.Close()
			if s.Engine != e {
				t.Errorf("URL %q opens engine %s, want %s", u1, s.Engine, e)
			}
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		})
	}
}

func addUser(t *testing.T, s *store.Store, id string) {
	t.Helper()
	err := s.WithTx(context.Background(), func(tx *store.Tx) error {
		// The store binds times as text on SQLite and timestamptz on
		// PostgreSQL; do the same here.
		var now any = tx.Now
		if s.Engine == store.SQLite {
			now = tx.Now.UTC().Format("2006-01-02T15:04:05.000000Z")
		}
		_, err := tx.Exec(context.Background(),
			"INSERT INTO users (user_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
			id, "Test User", now, now)
		return err
	})
	if err != nil {
		t.Fatalf("insert user: %v", err)
	}
}

func countUsers(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.Read.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}
