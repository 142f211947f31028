package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestWithTxKeepsEachFunctionAtomic runs many write functions at once, some
// failing after they wrote, and checks that exactly the successful ones'
// rows are there: on SQLite they share commits (group commit), where a
// failure must undo its own function's work and nobody else's.
func TestWithTxKeepsEachFunctionAtomic(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		insert := func(tx *store.Tx, jti string) error {
			_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)`, jti, time.Now().Add(time.Hour).UTC())
			return err
		}
		if err := s.WithTx(ctx, func(tx *store.Tx) error { return insert(tx, "taken") }); err != nil {
			t.Fatal(err)
		}
		// Hold the writer (SQLite's only one) so that everything below queues up behind it.
		release := make(chan struct{})
		holding := make(chan struct{})
		var first error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			first = s.WithTx(ctx, func(tx *store.Tx) error {
				close(holding)
				<-release
				return insert(tx, "holder")
			})
		}()
		<-holding

		const n = 40
		errBoom := errors.New("boom")
		errs := make([]error, n)
		panics := s.Engine == store.SQLite // PostgreSQL lets a panic go on to the caller
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.WithTx(ctx, func(tx *store.Tx) error {
					if err := insert(tx, fmt.Sprintf("jti-%02d", i)); err != nil {
						return err
					}
					switch {
					case i%4 == 1:
						return errBoom
					case i%4 == 2 && panics:
						panic("boom")
					case i%4 == 3:
						// A duplicate key fails one statement after a
						// successful one: the first must be undone too.
						return insert(tx, "taken")
					}
					return nil
				})
			}()
		}
		// A caller that gives up while queued never runs (SQLite: on
		// PostgreSQL nothing queues).
		cancelled, cancel := context.WithCancel(ctx)
		ranCancelled := false
		wg.Add(1)
		go func() {
			if s.Engine != store.SQLite {
				wg.Done()
				return
			}
			defer wg.Done()
			err := s.WithTx(cancelled, func(tx *store.Tx) error { ranCancelled = true; return nil })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
			}
		}()
		time.Sleep(100 * time.Millisecond) // let the callers queue (more or fewer only changes the grouping)
		cancel()
		close(release)
		wg.Wait()
		if first != nil {
			t.Fatalf("holder: %v", first)
		}
		if ranCancelled {
			t.Error("a cancelled caller's function ran")
		}
		for i, err := range errs {
			jti := fmt.Sprintf("jti-%02d", i)
			wantOK := i%4 == 0 || (i%4 == 2 && !panics)
			switch {
			case wantOK && err != nil:
				t.Errorf("%s: %v", jti, err)
			case !wantOK && err == nil:
				t.Errorf("%s: no error", jti)
			case i%4 == 1 && !errors.Is(err, errBoom):
				t.Errorf("%s: err = %v, want its own error", jti, err)
			}
			revoked, err := store.TokenRevoked(s, ctx, jti)
			if err != nil {
				t.Fatal(err)
			}
			if revoked != wantOK {
				t.Errorf("%s: row present = %v, want %v", jti, revoked, wantOK)
			}
		}
		if txs, actions := store.GroupCommitStats(s); s.Engine == store.SQLite && actions <= txs {
			t.Errorf("group commit never grouped: %d transactions for %d functions", txs, actions)
		}
	})
}

// TestWithLargeTxIsNeverGrouped queues several large functions behind a
// held writer and checks each got a transaction of its own.
func TestWithLargeTxIsNeverGrouped(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	release, holding := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.WithTx(ctx, func(*store.Tx) error { close(holding); <-release; return nil })
	}()
	<-holding
	txs0, actions0 := store.GroupCommitStats(s)
	const n = 6
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := store.WithLargeTx(s, ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)`, fmt.Sprintf("large-%d", i), time.Now().UTC())
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	txs, actions := store.GroupCommitStats(s)
	if txs-txs0 != n || actions-actions0 != n {
		t.Errorf("%d large functions ran in %d transactions (%d functions counted)", n, txs-txs0, actions-actions0)
	}
}
