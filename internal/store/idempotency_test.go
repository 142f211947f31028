package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestIdempotencyKeys drives the store's key records directly: an action
// claims and records its key in its own transaction, a repeat is answered
// without acting, a failed action leaves no claim, a key's first answer
// stands, keys expire, and a claim left by an older server (which claimed
// keys in a transaction of their own) holds for its lease only.
func TestIdempotencyKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := s.Now()
		const ttl = 24 * time.Hour
		commit := func(op, key, hash string, at time.Time) *store.IdemCommit {
			return &store.IdemCommit{OperatorID: op, Key: key, Hash: hash, Now: at, TTL: ttl}
		}
		state := func(op, key, hash string, at time.Time) store.IdemState {
			t.Helper()
			a, err := s.LookupIdempotent(ctx, op, key, hash, at, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if a == nil {
				return store.IdemNew
			}
			return a.State
		}
		want := func(got, want store.IdemState) {
			t.Helper()
			if got != want {
				t.Fatalf("state = %v, want %v", got, want)
			}
		}
		ids := testdb.Fixture(t, s, 3, 0)
		actor := review.Actor{ID: "op_a", Role: review.RoleOperator}
		notes := func(id string) int {
			t.Helper()
			n, err := s.ListNotes(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return len(n)
		}
		render := func(r ...any) (store.IdemResponse, error) {
			return store.IdemResponse{Status: 201, Body: []byte(r[0].(*store.Note).NoteID)}, nil
		}

		// An action records its response in its own transaction.
		want(state("op_a", "note-1", "h1", t0), store.IdemNew)
		c := commit("op_a", "note-1", "h1", t0)
		c.Render = render
		n, err := s.AddNote(store.WithIdemCommit(ctx, c), actor, ids[0], "first")
		if err != nil || !c.Recorded() {
			t.Fatalf("keyed AddNote: %v, recorded %v", err, c.Recorded())
		}
		a, err := s.LookupIdempotent(ctx, "op_a", "note-1", "h1", t0.Add(time.Hour), ttl)
		if err != nil || a == nil || a.State != store.IdemDone || a.Response.Status != 201 || string(a.Response.Body) != n.NoteID ||
			a.Response.ContentType != "application/json" {
			t.Fatalf("recorded answer = %+v, %v", a, err)
		}
		want(state("op_a", "note-1", "h2", t0), store.IdemMismatch)
		want(state("op_b", "note-1", "h2", t0), store.IdemNew) // keys are per operator

		// The same key reaching the action again (a repeat that raced past
		// the read) acts not: the key answers instead.
		c2 := commit("op_a", "note-1", "h1", t0.Add(time.Second))
		c2.Render = render
		if _, err := s.AddNote(store.WithIdemCommit(ctx, c2), actor, ids[0], "first"); !errors.Is(err, store.ErrIdemAnswered) {
			t.Fatalf("repeat: %v, want ErrIdemAnswered", err)
		}
		if a := c2.Answer(); a == nil || a.State != store.IdemDone || string(a.Response.Body) != n.NoteID {
			t.Fatalf("repeat's answer = %+v", a)
		}
		if k := notes(ids[0]); k != 1 {
			t.Fatalf("%d notes, want 1", k)
		}

		// A failed action leaves no claim behind; its outcome is recorded
		// on its own, and the first answer recorded stands.
		c3 := commit("op_a", "note-2", "h3", t0)
		c3.Render = render
		if _, err := s.AddNote(store.WithIdemCommit(ctx, c3), actor, "no_such_rec", "x"); review.ErrorCode(err) != review.ENotFound {
			t.Fatalf("AddNote on a missing item: %v", err)
		}
		want(state("op_a", "note-2", "h3", t0), store.IdemNew)
		notFound := store.IdemResponse{Status: 404, ContentType: "application/problem+json",
			Headers: map[string]string{"ETag": `"7"`}, Body: []byte(`{"status":404,"s":"é\u2028"}`)}
		if err := s.RecordIdempotent(ctx, c3, notFound); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordIdempotent(ctx, c3, store.IdemResponse{Status: 409, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		a, err = s.LookupIdempotent(ctx, "op_a", "note-2", "h3", t0, ttl)
		if err != nil || a == nil || a.Response.Status != 404 || string(a.Response.Body) != string(notFound.Body) ||
			a.Response.ContentType != notFound.ContentType || a.Response.Headers["ETag"] != `"7"` {
			t.Fatalf("recorded outcome = %+v, %v", a, err)
		}

		// After the TTL a key is free again, for any request.
		late := t0.Add(ttl + time.Second)
		want(state("op_a", "note-1", "h9", late), store.IdemNew)
		c4 := commit("op_a", "note-1", "h9", late)
		c4.Render = render
		n2, err := s.AddNote(store.WithIdemCommit(ctx, c4), actor, ids[1], "after expiry")
		if err != nil || !c4.Recorded() {
			t.Fatalf("expired key: %v, recorded %v", err, c4.Recorded())
		}
		if a, _ := s.LookupIdempotent(ctx, "op_a", "note-1", "h9", late, ttl); a == nil || string(a.Response.Body) != n2.NoteID {
			t.Fatalf("expired key's new answer = %+v", a)
		}

		// A claim an older server left unfinished: in progress for its
		// lease, then free, and an action takes it over.
		claimedAt := t0.Add(-time.Second)
		at := any(claimedAt.UTC())
		q := `INSERT INTO idempotency_keys (operator_id, idem_key, request_hash, status_code, response_body, created_at) VALUES ($1, 'old', 'h5', 0, '', $2)`
		if s.Engine == store.SQLite {
			at = claimedAt.UTC().Format("2006-01-02T15:04:05.000000Z")
			q = `INSERT INTO idempotency_keys (operator_id, idem_key, request_hash, status_code, response_body, created_at) VALUES (?, 'old', 'h5', 0, '', ?)`
		}
		if _, err := s.Write.ExecContext(ctx, q, "op_a", at); err != nil {
			t.Fatal(err)
		}
		want(state("op_a", "old", "h5", t0), store.IdemInProgress)
		afterLease := claimedAt.Add(store.IdempotencyLease + time.Second)
		want(state("op_a", "old", "h5", afterLease), store.IdemNew)
		c5 := commit("op_a", "old", "h5", afterLease)
		c5.Render = render
		if _, err := s.AddNote(store.WithIdemCommit(ctx, c5), actor, ids[2], "taken over"); err != nil || !c5.Recorded() {
			t.Fatalf("taking over a stale claim: %v, recorded %v", err, c5.Recorded())
		}
		want(state("op_a", "old", "h5", afterLease), store.IdemDone)

		// Purge forgets keys first used before the cut-off.
		if n, err := s.PurgeIdempotency(ctx, t0.Add(time.Minute)); err != nil || n != 2 { // note-2 and old
			t.Fatalf("purge = %d %v, want 2", n, err)
		}
	})
}
