package store_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestWALStaysBounded approves without pause (the real write mix: audit
// rows, deliveries, jobs, stream rows, counters; longer with
// SPENDSENSE_LONG_TESTS=1) while readers keep read transactions open, each
// for a while and overlapping so that one is always open (as the live
// stream's poll, export pages and slow lists do), and samples the size of
// the SQLite WAL file: it must stay in the tens of MiB. Without a bound it
// grew by hundreds of MiB in 20 s of approvals, and past 1.5 GiB with such
// readers; with a bound that waited for readers a fixed 200 ms, still to
// 489 MiB with them.
func TestWALStaysBounded(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	n := 1500
	if os.Getenv("SPENDSENSE_LONG_TESTS") == "1" {
		n = 20000
	}
	ids := testdb.Fixture(t, s, n, 0)
	var seq int
	var name, path string
	if err := s.Read.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notes := strings.Repeat("a note long enough to fill some pages ", 5)
	var writers, readers sync.WaitGroup
	next := make(chan string)
	for range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for id := range next {
				if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: review.Actor{ID: "op_wal", Role: review.RoleOperator}, Notes: notes}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	const hold = 400 * time.Millisecond
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			time.Sleep(time.Duration(r) * hold / 4) // staggered: some read transaction is always open
			for ctx.Err() == nil {
				tx, err := s.Read.BeginTx(ctx, nil)
				if err != nil {
					return
				}
				var k int
				if err := tx.QueryRow(`SELECT COUNT(*) FROM recommendations WHERE status = 'approved'`).Scan(&k); err != nil && ctx.Err() == nil {
					t.Error(err)
				}
				time.Sleep(hold) // the read transaction stays open
				_ = tx.Rollback()
			}
		}()
	}
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak.Load() {
				peak.Store(fi.Size())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for _, id := range ids {
		next <- id
	}
	close(next)
	writers.Wait()
	cancel()
	readers.Wait()
	<-sampled
	p := max(peak.Load(), store.WALPeak(s))
	t.Logf("WAL peak over %d approvals beside overlapping readers: %.1f MiB", n, float64(p)/(1<<20))
	if p > 64<<20 {
		t.Fatalf("the WAL reached %.1f MiB under sustained writes; want tens of MiB at most", float64(p)/(1<<20))
	}
}
