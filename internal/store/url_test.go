package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	t.Run("OK", func(t *testing.T) {
		for in, want := range map[string]store.Target{
			"":                                  {Engine: store.SQLite, Path: store.DefaultSQLitePath},
			"x.db":                              {Engine: store.SQLite, Path: "x.db"},
			filepath.Join(dir, "a.db"):          {Engine: store.SQLite, Path: filepath.Join(dir, "a.db")},
			"sqlite:" + dir + "/b.db":           {Engine: store.SQLite, Path: dir + "/b.db"},
			"sqlite://" + dir + "/c.db":         {Engine: store.SQLite, Path: dir + "/c.db"},
			"file:" + dir + "/d.db":             {Engine: store.SQLite, Path: dir + "/d.db"},
			"postgres://u:p@localhost/db":       {Engine: store.Postgres, URL: "postgres://u:p@localhost/db"},
			"postgresql://u@db.example:5433/db": {Engine: store.Postgres, URL: "postgresql://u@db.example:5433/db"},
		} {
			got, err := store.ParseURL(in)
			if err != nil || got != want {
				t.Errorf("ParseURL(%q) = %+v, %v; want %+v", in, got, err, want)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for in, why := range map[string]string{
			"postgress://postgres@localhost/db": "unknown scheme postgress://",
			"Postgres://postgres@localhost/db":  "lower case",
			"mysql://root@localhost/db":         "unknown scheme mysql://",
			"http://example.com/db":             "unknown scheme http://",
			"/nonexistent/dir/x.db":             "folder that does not exist",
			dir:                                 "is a folder",
			"host=localhost dbname=x":           "key=value",
			"postgres://u:secret@h/db\x7f":      "not a valid URL",
		} {
			_, err := store.ParseURL(in)
			if err == nil {
				t.Errorf("ParseURL(%q) accepted it", in)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, why) || !strings.Contains(msg, store.AcceptedURLForms) {
				t.Errorf("ParseURL(%q) = %q; want it to say %q and name the accepted forms", in, msg, why)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("ParseURL(%q) = %q shows the password", in, msg)
			}
		}
		if _, err := os.Stat("/nonexistent"); err == nil {
			t.Error("ParseURL created the folder")
		}
	})
}

// A read-only store neither creates a missing SQLite file nor writes to an
// existing database, and PendingMigrations reads without creating goose's
// or River's bookkeeping tables.
func TestReadOnlyAndPendingMigrations(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing.db")
	if _, err := store.Open(ctx, missing, store.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "no SQLite database") {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("read-only open created %s", missing)
	}
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			url := testdb.EmptyURL(t, e)
			if e == store.SQLite {
				// An existing but empty file, as `touch` would leave it.
				if err := os.WriteFile(url, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ro, err := store.Open(ctx, url, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			pending, err := ro.PendingMigrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) == 0 || !strings.HasPrefix(pending[0], "00001_") {
				t.Fatalf("pending on an empty database = %v", pending)
			}
			if _, err := ro.Write.ExecContext(ctx, `CREATE TABLE intruder (x INTEGER)`); err == nil {
				t.Fatal("a read-only store created a table")
			}

			rw, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rw.Close()
			// Still nothing: PendingMigrations created no table.
			if again, err := rw.PendingMigrations(ctx); err != nil || len(again) != len(pending) {
				t.Fatalf("pending after the read-only look = %d, %v; want %d", len(again), err, len(pending))
			}
			var n int
			if err := rw.Read.QueryRowContext(ctx, countTablesQuery(e)).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d tables after the read-only look (%v); want 0", n, err)
			}
			applied, err := rw.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if applied != len(pending) {
				t.Errorf("Migrate applied %d; PendingMigrations said %d (%v)", applied, len(pending), pending)
			}
			if left, err := ro.PendingMigrations(ctx); err != nil || len(left) != 0 {
				t.Fatalf("pending after Migrate = %v, %v", left, err)
			}
		})
	}
}

func countTablesQuery(e store.Engine) string {
	if e == store.Postgres {
		return `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	return `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`
}
