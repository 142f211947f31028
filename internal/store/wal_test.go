package store_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestWALStaysBounded writes without pause for a few seconds (longer with
// SPENDSENSE_LONG_TESTS=1) while readers keep reading, and samples the
// size of the SQLite WAL file: it must stay in the tens of MiB. Without a
// bound it grew by hundreds of MiB a minute and stayed there until shutdown.
func TestWALStaysBounded(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	ids := testdb.Fixture(t, s, 2000, 0)
	var seq int
	var name, path string
	if err := s.Read.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	run := 4 * time.Second
	if os.Getenv("SPENDSENSE_LONG_TESTS") == "1" {
		run = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	text := strings.Repeat("a rationale long enough to dirty its pages ", 90) // ~4 KB
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += 4 {
				err := s.WithTx(context.Background(), func(tx *store.Tx) error {
					_, err := tx.Exec(context.Background(), `UPDATE recommendations SET rationale = ? WHERE recommendation_id = ?`,
						text[:len(text)-i%100], ids[i%len(ids)])
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rows, err := s.Read.Query(`SELECT recommendation_id, rationale FROM recommendations ORDER BY recommendation_id LIMIT 200`)
				if err != nil {
					t.Error(err)
					return
				}
				for rows.Next() {
				}
				rows.Close()
			}
		}()
	}
	var peak int64
	for ctx.Err() == nil {
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak {
			peak = fi.Size()
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("WAL peak over %s of sustained writes: %.1f MiB", run, float64(peak)/(1<<20))
	if peak > 64<<20 {
		t.Fatalf("the WAL reached %.1f MiB under sustained writes; want tens of MiB at most", float64(peak)/(1<<20))
	}
}
