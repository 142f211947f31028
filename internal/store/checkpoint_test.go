package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestWALIsCheckpointedInTheBackground writes far less than the writer's
// own automatic checkpoint threshold and checks the pages still reach the
// database file: only the background checkpointer can have put them there.
func TestWALIsCheckpointedInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := testdb.URL(t, store.SQLite)
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Let a checkpoint settle the migration, then write ~2 MB.
	time.Sleep(1500 * time.Millisecond)
	before := size()
	pad := strings.Repeat("x", 2000)
	err = s.WithTx(ctx, func(tx *store.Tx) error {
		for i := range 1000 {
			if _, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)`,
				fmt.Sprintf("%s-%04d", pad, i), time.Now().UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+1_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (was %d) 10 s after a 2 MB write: the WAL was not checkpointed", size(), before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
