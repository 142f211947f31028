package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
)

// BenchmarkInsights times /alerts and /analytics one store call at a time.
// By default on the seed's 100,000 recommendations per engine; with
// SPENDSENSE_BENCH_DATABASE_URL on that existing dataset (e.g. the load
// benchmark's kept 1,000,000 file; only read):
//
//	SPENDSENSE_BENCH_DATABASE_URL=/tmp/1m.db go test -run '^$' -bench Insights ./internal/store/
func BenchmarkInsights(b *testing.B) {
	if url := os.Getenv("SPENDSENSE_BENCH_DATABASE_URL"); url != "" {
		s, err := store.Open(context.Background(), url, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if _, err := s.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		benchInsights(b, s)
		return
	}
	eachEngine(b, func(b *testing.B, e store.Engine) {
		ss := seededFor(b, e)
		b.Cleanup(func() { ss.s.Close() })
		benchInsights(b, ss.s)
	})
}

func benchInsights(b *testing.B, s *store.Store) {
	ctx := context.Background()
	// The ranges end on the data's last day, as the load benchmark's do.
	var last store.NullTime
	if err := s.Read.QueryRowContext(ctx, `SELECT MAX(timestamp) FROM operator_audit_log`).Scan(&last); err != nil || !last.Valid {
		b.Fatalf("no audit rows: %v", err)
	}
	b.Run("alerts", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Alerts(ctx, store.AlertThresholds{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, days := range []int{30, 366} {
		for _, zone := range []string{"UTC", "America/New_York"} {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				b.Fatal(err)
			}
			y, m, d := last.Time.In(loc).Date()
			in := store.AnalyticsInput{Start: time.Date(y, m, d+1-days, 0, 0, 0, 0, loc), End: time.Date(y, m, d+1, 0, 0, 0, 0, loc), Loc: loc}
			b.Run(fmt.Sprintf("analytics-%dd-%s", days, strings.ReplaceAll(zone, "/", "_")), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Analytics(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
