package store_test

import (
	"context"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestStreamLogNothingCommitsBehindTheReader holds a PostgreSQL transaction
// open after it wrote an audit row (so its row has the smaller sequence
// number) while a later transaction commits. A reader tailing by sequence
// alone would take the later row and then never see the earlier one; the
// stream log withholds the later row until the earlier transaction ends,
// then gives both, in order. (SQLite has one writer: a second transaction
// cannot commit while the first is open.)
func TestStreamLogNothingCommitsBehindTheReader(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		if s.Engine != store.Postgres {
			t.Skip("one writer: transactions cannot commit out of order")
		}
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 2, 0)
		head, err := s.StreamHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wrote, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
		go func() {
			done <- s.WithTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO operator_audit_log (audit_id, operator_id, action, recommendation_id, metadata, timestamp)
VALUES (?, 'op_slow', 'modify', ?, '{}', ?)`, store.NewID(), ids[0], tx.Now)
				if err != nil {
					return err
				}
				close(wrote)
				<-release
				return nil
			})
		}()
		select {
		case <-wrote:
		case err := <-done:
			t.Fatal(err)
		}
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[1], Actor: review.Actor{ID: "op_fast", Role: review.RoleOperator}}); err != nil {
			t.Fatal(err)
		}
		rows, err := s.StreamEvents(ctx, head, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 0 {
			t.Fatalf("rows behind an open transaction were handed out: %+v", rows)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		rows, err = s.StreamEvents(ctx, head, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].OperatorID != "op_slow" || rows[1].OperatorID != "op_fast" || !rows[1].Pos.After(rows[0].Pos) {
			t.Fatalf("after both committed: %+v", rows)
		}
		if rows[0].Pos.Seq > rows[1].Pos.Seq {
			t.Fatalf("the held transaction's row should have the smaller sequence number: %+v", rows)
		}
	})
}
