package store_test

// Micro-benchmarks of the store's hot paths, on every engine testdb offers,
// so that regressions show up in benchstat:
//
//	go test -run '^$' -bench . -count 6 ./internal/store/ > new.txt
//	benchstat old.txt new.txt
//
// The load benchmark (spendsense bench) measures the whole server; these
// measure one store call at a time, without HTTP.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/seed"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func eachEngine(b *testing.B, fn func(b *testing.B, e store.Engine)) {
	for _, e := range testdb.Engines() {
		b.Run(string(e), func(b *testing.B) { fn(b, e) })
	}
}

var benchActor = review.Actor{ID: "op_bench", Role: review.RoleOperator}

// pendingStore is a fresh store holding n pending recommendations (ids
// rec_0000…), all passing their guardrails.
func pendingStore(b *testing.B, e store.Engine, n int) (*store.Store, []string) {
	b.Helper()
	s := testdb.Open(b, e)
	ids := testdb.Fixture(b, s, n, 0)
	return s, ids
}

// BenchmarkApprove is one approval: the conditional status update, its
// audit row and its delivery row, in one transaction.
func BenchmarkApprove(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		s, ids := pendingStore(b, e, b.N)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[i], Actor: benchActor, Notes: "benchmark"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReject is one rejection: status update and audit row.
func BenchmarkReject(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		s, ids := pendingStore(b, e, b.N)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Reject(ctx, review.RejectInput{ID: ids[i], Actor: benchActor, Reason: "benchmark"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFlag is one flag: status update, flag row and audit row.
func BenchmarkFlag(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		s, ids := pendingStore(b, e, b.N)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := s.Flag(ctx, review.FlagInput{ID: ids[i], Actor: benchActor, Reason: "benchmark"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkModify is one edit: the before/after audit row and the update.
func BenchmarkModify(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		s, ids := pendingStore(b, e, b.N)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			title := fmt.Sprintf("Edited %d", i)
			if _, _, err := s.Modify(ctx, review.ModifyInput{ID: ids[i], Actor: benchActor, Title: &title}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBulkApprove100 is one bulk approval of 100 ids: 100 status
// changes, 100 audit rows and 100 deliveries in one transaction.
func BenchmarkBulkApprove100(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		s, ids := pendingStore(b, e, 100*b.N)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: benchActor, IDs: ids[100*i : 100*(i+1)], Notes: "benchmark"})
			if err != nil {
				b.Fatal(err)
			}
			if res.Approved != 100 {
				b.Fatalf("approved %d of 100: %+v", res.Approved, res.FailedItems)
			}
		}
	})
}

type seededStore struct {
	s   *store.Store
	ids []string
	ops []string
	day time.Time
}

const seededSize = 100_000

// BenchmarkQueries100k runs the read queries against the seed's 100,000
// recommendations (10,000 users, their traces and audit history): a list
// page of 100 with and without filters, a deep keyset page, one
// recommendation, its trace, the dashboard stats and an audit-log page.
func BenchmarkQueries100k(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		ss := seededFor(b, e)
		b.Cleanup(func() { ss.s.Close() })
		ctx := context.Background()
		list := func(f store.ListFilter) func(b *testing.B) {
			return func(b *testing.B) {
				for b.Loop() {
					recs, _, err := ss.s.ListRecommendations(ctx, f)
					if err != nil {
						b.Fatal(err)
					}
					if len(recs) == 0 {
						b.Fatal("empty page")
					}
				}
			}
		}
		b.Run("list-pending", list(store.ListFilter{Status: "pending", Limit: 100}))
		b.Run("list-persona-priority", list(store.ListFilter{Status: "pending", Persona: "student", Priority: "high", Limit: 100}))
		b.Run("list-type", list(store.ListFilter{Status: "pending", Type: "video", Limit: 100}))
		// A cursor 50 pages in.
		f := store.ListFilter{Status: "pending", Limit: 100}
		for range 50 {
			_, next, err := ss.s.ListRecommendations(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			if next == nil {
				break
			}
			f.Cursor = next
		}
		b.Run("list-deep-50", list(f))
		b.Run("get", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := ss.s.GetRecommendation(ctx, ss.ids[i%len(ss.ids)]); err != nil {
					b.Fatal(err)
				}
				i += 7919
			}
		})
		b.Run("trace", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := ss.s.GetTrace(ctx, ss.ids[i%len(ss.ids)]); err != nil {
					b.Fatal(err)
				}
				i += 7919
			}
		})
		b.Run("stats", func(b *testing.B) {
			in := store.StatsInput{DayStart: ss.day, DayEnd: ss.day.AddDate(0, 0, 1)}
			for b.Loop() {
				if _, err := ss.s.Stats(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stats-operator", func(b *testing.B) {
			in := store.StatsInput{DayStart: ss.day, DayEnd: ss.day.AddDate(0, 0, 1), OperatorID: ss.ops[0]}
			for b.Loop() {
				if _, err := ss.s.Stats(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		audit := func(f store.AuditFilter) func(b *testing.B) {
			return func(b *testing.B) {
				for b.Loop() {
					if _, _, _, err := ss.s.ListAudit(ctx, f); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.Run("audit-operator", audit(store.AuditFilter{OperatorID: ss.ops[0], Limit: 100}))
		b.Run("audit-action", audit(store.AuditFilter{Action: "approve", Limit: 100}))
		from, to := ss.day.AddDate(0, 0, -7), ss.day
		b.Run("audit-dates", audit(store.AuditFilter{From: &from, To: &to, Limit: 100}))
	})
}

// seededFor makes a store with the seed's 100,000 recommendations; it is
// dropped when b ends.
func seededFor(b *testing.B, e store.Engine) *seededStore {
	ctx := context.Background()
	url := testdb.URL(b, e)
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	sum, err := seed.Generate(ctx, s, seed.Options{Users: seededSize / 10, Recommendations: seededSize, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if e == store.Postgres {
		// After a bulk load the planner needs statistics, as in production
		// after autovacuum.
		if _, err := s.Write.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	ss := &seededStore{s: s, day: sum.Now.Truncate(24 * time.Hour)}
	strs := func(q string) []string {
		rows, err := s.Read.QueryContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				b.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	ss.ids = strs(`SELECT recommendation_id FROM recommendations ORDER BY random() LIMIT 10000`)
	ss.ops = strs(`SELECT DISTINCT operator_id FROM operator_audit_log`)
	if len(ss.ids) == 0 || len(ss.ops) == 0 {
		b.Fatal("seed wrote no recommendations or no audit rows")
	}
	return ss
}
