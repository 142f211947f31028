package httpapi_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestOneWriteTransactionPerKeyedAction counts the store's write
// transactions: a keyed approval costs exactly what an unkeyed one does (one:
// the key is claimed and its response recorded inside the approval's own
// transaction), and a replay writes nothing.
func TestOneWriteTransactionPerKeyedAction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newPurgedEnv(t, s)
		ids := e.fixture(40, 0)
		op := e.as(review.RoleOperator)
		approve := func(id string, headers ...string) resp {
			return e.do("POST", "/api/operator/recommendations/"+id+"/approve", op, map[string]any{"notes": "ok"}, headers...).must(t, 200)
		}

		const n = 20
		count := func(keyed bool, from int) int64 {
			before := s.WriteTransactions()
			for i := from; i < from+n; i++ {
				if keyed {
					approve(ids[i], "Idempotency-Key", "k-"+ids[i])
				} else {
					approve(ids[i])
				}
			}
			return s.WriteTransactions() - before
		}
		plain, keyed := count(false, 0), count(true, n)
		before := s.WriteTransactions()
		for i := n; i < 2*n; i++ {
			if r := approve(ids[i], "Idempotency-Key", "k-"+ids[i]); !replayed(r) {
				t.Fatalf("%s: repeat not replayed", ids[i])
			}
		}
		replays := s.WriteTransactions() - before
		t.Logf("%s: write transactions per approval: unkeyed %.2f, keyed %.2f, replay %.2f",
			s.Engine, float64(plain)/n, float64(keyed)/n, float64(replays)/n)
		if plain != n || keyed != n || replays != 0 {
			t.Errorf("write transactions for %d approvals: unkeyed %d, keyed %d, replays %d; want %d, %d, 0", n, plain, keyed, replays, n, n)
		}
	})
}

// newPurgedEnv is newEnv after the API's first keyed request, whose
// background purge of expired keys (a write transaction of its own) has
// finished, so that the store's write transactions count only what the
// test does. An expired key is planted so that the purge logs when done.
func newPurgedEnv(t *testing.T, s *store.Store) *env {
	t.Helper()
	logs := &syncBuffer{}
	e := newEnvWith(t, s, func(c *httpapi.Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	if _, err := s.Write.Exec(`INSERT INTO idempotency_keys (operator_id, idem_key, request_hash, status_code, response_body, created_at)
VALUES ('op_operator', 'ancient', 'h', 200, '{}', '2020-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/operator/queue/release", e.as(review.RoleOperator), nil, "Idempotency-Key", "warm-up").must(t, 200)
	waitForLog(t, logs, "purged idempotency keys")
	return e
}

// waitForLog waits (as long as the machine needs, up to a minute) for a log
// line containing what.
func waitForLog(t *testing.T, logs *syncBuffer, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for !strings.Contains(logs.String(), what) {
		select {
		case <-ctx.Done():
			t.Fatalf("no log line with %q", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestEveryKeyedOperationRecordsInItsTransaction calls every operation
// that takes an Idempotency-Key (each POST, PATCH and DELETE under
// /api/operator and /api/ingest; the list comes from the OpenAPI document,
// so a new one cannot be left out) with a key, and checks that it cost one
// write transaction, the action's own, which therefore also holds its
// record (a record written after the handler would be a second), and that
// the repeat is a replay that writes nothing.
func TestEveryKeyedOperationRecordsInItsTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newPurgedEnv(t, s)
		s.SetUndoWindow(5 * time.Minute)
		ids := e.fixture(11, 0)
		op, admin, ingest := e.as(review.RoleOperator), e.as(review.RoleAdmin), e.as(review.RoleIngest)
		rp := func(id, rest string) string { return "/api/operator/recommendations/" + id + rest }

		// An approval whose delivery failed, for retry-delivery.
		e.do("POST", rp(ids[10], "/approve"), op, nil).must(t, 200)
		if _, err := s.Write.Exec(`UPDATE deliveries SET status = 'failed' WHERE recommendation_id = `+e.placeholder(1), ids[10]); err != nil {
			t.Fatal(err)
		}
		// …and whose job River has finished with (no worker runs here).
		if _, err := s.Write.Exec(`UPDATE river_job SET state = 'discarded', finalized_at = created_at`); err != nil {
			t.Fatal(err)
		}
		fl := e.do("POST", rp(ids[9], "/flag"), op, map[string]any{"reason": "check"}).must(t, 200).JSON(t)
		senior := e.as(review.RoleSenior)
		sig := e.do("GET", "/api/operator/users/user_0/signals", op, nil).must(t, 200).JSON(t)

		type call struct {
			op, method, token string
			path              func() string
			body              any
			status            int
		}
		var noteID, tagID string
		calls := []call{
			{"approve", "POST", op, func() string { return rp(ids[0], "/approve") }, map[string]any{"notes": "ok"}, 200},
			{"undo", "POST", op, func() string { return rp(ids[0], "/undo") }, nil, 200},
			{"reject", "POST", op, func() string { return rp(ids[1], "/reject") }, map[string]any{"reason": "no"}, 200},
			{"modify", "PATCH", op, func() string { return rp(ids[2], "") }, map[string]any{"title": "Edited"}, 200},
			{"flag", "POST", op, func() string { return rp(ids[3], "/flag") }, map[string]any{"reason": "tone"}, 200},
			{"bulk-approve", "POST", op, func() string { return "/api/operator/recommendations/bulk-approve" },
				map[string]any{"recommendation_ids": []string{ids[4], ids[5]}}, 200},
			{"resolve-flag", "POST", senior, func() string { return "/api/operator/flags/" + fl["flag_id"].(string) + "/resolve" },
				map[string]any{"resolution": "requeue", "notes": "fine"}, 200},
			{"add-note", "POST", op, func() string { return rp(ids[6], "/notes") }, map[string]any{"note_text": "look"}, 201},
			{"edit-note", "PATCH", op, func() string { return "/api/operator/notes/" + noteID }, map[string]any{"note_text": "looked"}, 200},
			{"delete-note", "DELETE", op, func() string { return "/api/operator/notes/" + noteID }, nil, 200},
			{"add-tag", "POST", op, func() string { return rp(ids[6], "/tags") }, map[string]any{"tag_name": "edge_case"}, 201},
			{"remove-tag", "DELETE", op, func() string { return "/api/operator/tags/" + tagID }, nil, 200},
			{"add-tag-vocabulary", "POST", admin, func() string { return "/api/operator/tags/vocabulary" },
				map[string]any{"tag_name": "odd_one", "display_name": "Odd one"}, 201},
			{"retire-tag-vocabulary", "DELETE", admin, func() string { return "/api/operator/tags/vocabulary/odd_one" }, nil, 200},
			{"claim-queue", "POST", op, func() string { return "/api/operator/queue/claim" }, map[string]any{"limit": 2}, 200},
			{"release-queue", "POST", op, func() string { return "/api/operator/queue/release" }, map[string]any{}, 200},
			{"retry-delivery", "POST", admin, func() string { return "/api/operator/deliveries/" + ids[10] + "/retry" }, nil, 200},
			{"add-operator", "POST", admin, func() string { return "/api/operator/operators" },
				map[string]any{"operator_id": "op_new", "name": "New", "role": "operator", "password": "a long enough password"}, 201},
			{"update-operator", "PATCH", admin, func() string { return "/api/operator/operators/op_new" }, map[string]any{"name": "Newer"}, 200},
			{"set-operator-password", "POST", admin, func() string { return "/api/operator/operators/op_new/password" },
				map[string]any{"password": "another long password"}, 204},
			{"ingest-users", "POST", ingest, func() string { return "/api/ingest/users" }, map[string]any{"users": []any{map[string]any{
				"user_id": "user_idem", "signals": map[string]any{"30d": sig["signals"]},
				"personas": map[string]any{"30d": map[string]any{"primary": "student", "match_strength": 0.5}}}}}, 200},
			{"ingest-recommendations", "POST", ingest, func() string { return "/api/ingest/recommendations" },
				map[string]any{"recommendations": []any{newRec("idem_every_1", "user_0")}}, 200},
		}

		covered := map[string]bool{}
		for _, c := range calls {
			covered[c.op] = true
			key := []string{"Idempotency-Key", "every-" + c.op}
			before := s.WriteTransactions()
			first := e.do(c.method, c.path(), c.token, c.body, key...)
			if first.Status != c.status {
				t.Fatalf("%s: %d %s, want %d", c.op, first.Status, first.Body, c.status)
			}
			writes := s.WriteTransactions() - before
			again := e.do(c.method, c.path(), c.token, c.body, key...)
			sameResponse(t, first, again)
			replayWrites := s.WriteTransactions() - before - writes
			if writes != 1 || replayWrites != 0 {
				t.Errorf("%s: %d write transactions, replay %d; want 1 (the action's, with its record) and 0", c.op, writes, replayWrites)
			}
			switch c.op {
			case "add-note":
				noteID = first.JSON(t)["note_id"].(string)
			case "add-tag":
				tagID = first.JSON(t)["tag_id"].(string)
			}
		}
		for id, o := range openAPIOperations(t, e) {
			keyed := (o.method == "POST" || o.method == "PATCH" || o.method == "DELETE") && len(o.roles) > 0 &&
				(strings.HasPrefix(o.path, "/api/operator/") || strings.HasPrefix(o.path, "/api/ingest/"))
			if keyed && !covered[id] {
				t.Errorf("keyed operation %s (%s %s) is not covered here", id, o.method, o.path)
			}
		}
	})
}
