package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestCheckSeesAnnotationAndUndoDrift: the checker's note, tag and undo
// invariants hold after real changes and report each kind of drift
// written behind the store's back.
func TestCheckSeesAnnotationAndUndoDrift(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SetUndoWindow(5 * time.Minute)
		testdb.DeliveryQueue(t, s) // approvals insert their delivery jobs, as in an API process
		ids := testdb.Fixture(t, s, 6, 0)
		op := review.Actor{ID: "op_1", Role: review.RoleOperator}
		if _, err := s.AddNote(ctx, op, ids[0], "a note"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTag(ctx, op, ids[0], "edge_case"); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[1:3] {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: op}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Undo(ctx, review.UndoInput{ID: ids[1], Actor: op}); err != nil {
			t.Fatal(err)
		}
		testdb.CheckInvariants(t, s)

		q := func(query string, args ...any) {
			t.Helper()
			if s.Engine == store.Postgres {
				for i := 1; strings.Contains(query, "?"); i++ {
					query = strings.Replace(query, "?", "$"+string(rune('0'+i)), 1)
				}
			}
			if _, err := s.Write.ExecContext(ctx, query, args...); err != nil {
				t.Fatal(err)
			}
		}
		// Drift, each kind once.
		q(`INSERT INTO recommendation_notes (note_id, recommendation_id, operator_id, note_text, created_at) VALUES ('n_ghost', ?, 'op_1', 'x', ?)`, ids[3], "2026-11-01T00:00:00.000000Z")
		q(`INSERT INTO recommendation_tags (tag_id, recommendation_id, tag_name, tagged_by, tagged_at) VALUES ('t_ghost', ?, 'llm_error', 'op_1', ?)`, ids[3], "2026-11-01T00:00:00.000000Z")
		q(`UPDATE recommendations SET undo_expires_at = ? WHERE recommendation_id = ?`, "2030-01-01T00:00:00.000000Z", ids[4])
		q(`UPDATE deliveries SET status = 'cancelled' WHERE recommendation_id = ?`, ids[2])
		vs, err := s.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string][]string{}
		for _, v := range vs {
			found[v.Invariant] = v.Examples
		}
		for inv, want := range map[string]string{
			"every note has its note_add audit row":                                    "n_ghost",
			"every tag has its tag_add audit row":                                      "t_ghost",
			"an undo window is open only after a decision":                             ids[4],
			"deliveries belong to approved items (cancelled ones to undone approvals)": ids[2],
		} {
			if ex := found[inv]; len(ex) != 1 || ex[0] != want {
				t.Errorf("%q: examples %v, want [%s] (all: %v)", inv, ex, want, found)
			}
		}
	})
}
