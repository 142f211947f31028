// Package testdb gives tests real, migrated, isolated databases on every
// engine the store supports, so one suite runs unchanged against each.
package testdb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
)

// Engines lists the engines Each runs on.
func Engines() []store.Engine { return []store.Engine{store.SQLite} }

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
	return s
}

// URL returns the DATABASE_URL of a fresh, empty database on engine e (for
// tests that start real server processes against it).
func URL(t testing.TB, e store.Engine) string {
	t.Helper()
	switch e {
	case store.SQLite:
		return filepath.Join(t.TempDir(), "spendsense.db")
	}
	t.Fatalf("testdb: engine %s not available", e)
	return ""
}
