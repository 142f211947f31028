package delivery_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/riverqueue/river/rivermigrate"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// Several processes (an API-only and a worker-only serve, say) migrating the
// same database at once: each succeeds and each migration is applied once.
func TestConcurrentMigrate(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			url := testdb.URL(t, e)
			const procs = 4
			stores := make([]*store.Store, procs)
			for i := range stores {
				s, err := store.Open(ctx, url, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				stores[i] = s
			}
			m, err := rivermigrate.New(stores[0].RiverDriver(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := len(m.AllVersions())
			if e == store.Postgres {
				// The test database is a copy of a migrated template: remove
				// River's schema so its migrations are pending again.
				if _, err := m.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
					t.Fatal(err)
				}
			} else {
				// and our own schema on the new file
				ours, _ := filepath.Glob("../store/migrations/sqlite/*.sql")
				want += len(ours)
			}
			var wg sync.WaitGroup
			counts := make([]int, procs)
			errs := make([]error, procs)
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					counts[i], errs[i] = s.Migrate(ctx)
				}()
			}
			wg.Wait()
			total := 0
			for i := range stores {
				if errs[i] != nil {
					t.Errorf("migrator %d: %v", i, errs[i])
				}
				total += counts[i]
			}
			if total != want {
				t.Errorf("applied %v (total %d), want %d in all", counts, total, want)
			}
			if n, err := stores[0].Migrate(ctx); n != 0 || err != nil {
				t.Errorf("migrate again = %d, %v", n, err)
			}
		})
	}
}
