package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// keyedKind is one keyed action the crash test floods the server with.
type keyedKind struct {
	name         string
	method, path string // path has %s for the recommendation id
	body         string
	ok           int // its success status
	// prepare readies the items before the flood (undo needs decisions).
	prepare func(t *testing.T, base, token string, ids []string)
	// once checks, after the retries, that the action happened exactly once
	// on an item.
	once func(t *testing.T, base, token, id string)
}

// TestIdempotentRetryAfterKill floods the server with keyed actions
// (approvals, undos, notes) from many clients at once, kills it (SIGKILL) in
// the middle, starts it again and retries, with the same key, every action
// whose answer was lost: each retry must get the first response (or act, if
// the first attempt never committed), never a 409 saying the item is
// already approved or has nothing to undo, and no action may happen twice
// (two notes). The record of a key's response is committed in the action's
// own transaction, so there is no moment at which the action is done and
// its record is not.
func TestIdempotentRetryAfterKill(t *testing.T) {
	kinds := []keyedKind{
		{name: "approve", method: "POST", path: "/api/operator/recommendations/%s/approve", body: `{"notes":"ok"}`, ok: http.StatusOK,
			once: func(t *testing.T, base, token, id string) { auditRowsOnce(t, base, token, id, review.ActionApprove) }},
		{name: "undo", method: "POST", path: "/api/operator/recommendations/%s/undo", ok: http.StatusOK,
			prepare: func(t *testing.T, base, token string, ids []string) {
				r := call(base, "POST", "/api/operator/recommendations/bulk-approve", token, map[string]any{"recommendation_ids": ids})
				if r.err != nil || r.status != http.StatusOK || r.body["approved"] != float64(len(ids)) {
					t.Fatalf("bulk approval before the undos: %d %v %v", r.status, r.body, r.err)
				}
			},
			once: func(t *testing.T, base, token, id string) { auditRowsOnce(t, base, token, id, review.ActionUndo) }},
		{name: "note", method: "POST", path: "/api/operator/recommendations/%s/notes", body: `{"note_text":"checked"}`, ok: http.StatusCreated,
			once: func(t *testing.T, base, token, id string) {
				t.Helper()
				r := callList(base, "/api/operator/recommendations/"+id+"/notes", token)
				if r.err != nil || len(r.list) != 1 {
					t.Errorf("%s: %d notes after the retry (%v), want 1", id, len(r.list), r.err)
				}
			}},
	}
	const perKind = 1000
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := testdb.URL(t, engine)
			ids, tokens := seedDB(t, dbURL, perKind*len(kinds))
			op := tokens[review.RoleOperator]
			for i, kind := range kinds {
				t.Run(kind.name, func(t *testing.T) {
					killAndRetry(t, engine, dbURL, op, kind, ids[i*perKind:(i+1)*perKind])
				})
			}
			checkInvariants(t, dbURL)
		})
	}
}

// killAndRetry is one round of TestIdempotentRetryAfterKill.
func killAndRetry(t *testing.T, engine store.Engine, dbURL, token string, kind keyedKind, ids []string) {
	send := func(base, id string) (int, bool, string, error) {
		req, _ := http.NewRequest(kind.method, base+fmt.Sprintf(kind.path, id), bytes.NewReader([]byte(kind.body)))
		req.Header.Set("Authorization", "Bearer "+token)
		if kind.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Idempotency-Key", "kill-"+kind.name+"-"+id)
		res, err := client.Do(req)
		if err != nil {
			return 0, false, "", err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Idempotent-Replayed") == "true", string(b), nil
	}
	srv := startServer(t, dbURL)
	if kind.prepare != nil {
		kind.prepare(t, srv.url, token, ids)
	}
	var mu sync.Mutex
	var lost []string
	var wg sync.WaitGroup
	next := make(chan string)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				if _, _, _, err := send(srv.url, id); err != nil {
					mu.Lock()
					lost = append(lost, id)
					mu.Unlock()
				}
			}
		}()
	}
	killAt := time.Now().Add(1500 * time.Millisecond)
	for _, id := range ids {
		if time.Now().After(killAt) {
			srv.kill()
			break
		}
		next <- id
	}
	close(next)
	wg.Wait()
	if len(lost) == 0 {
		t.Skip("no request was in flight at the kill; nothing to retry")
	}
	srv = startServer(t, dbURL)
	replayed, refused := 0, 0
	for _, id := range lost {
		status, replay, body, err := send(srv.url, id)
		// An older server claimed keys in a transaction of their own: a
		// claim whose action never committed then held the key for its
		// lease ("still in progress"); wait that out, as a client told
		// Retry-After would.
		for deadline := time.Now().Add(store.IdempotencyLease + 10*time.Second); err == nil && status == http.StatusConflict &&
			strings.Contains(body, "still in progress") && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			status, replay, body, err = send(srv.url, id)
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case status == kind.ok && replay:
			replayed++
		case status == kind.ok:
		default:
			refused++
			t.Errorf("retry of %s %s with its key after the kill: %d %s, want %d", kind.name, id, status, body, kind.ok)
		}
		kind.once(t, srv.url, token, id)
	}
	t.Logf("%s %s: %d lost their answer in the kill; on retry %d were replayed, %d acted afresh, %d refused",
		engine, kind.name, len(lost), replayed, len(lost)-replayed-refused, refused)
	srv.stop()
}

// auditRowsOnce fails unless recommendation id has exactly one audit row of
// action.
func auditRowsOnce(t *testing.T, base, token, id, action string) {
	t.Helper()
	r := call(base, "GET", "/api/operator/audit-logs?recommendation_id="+id+"&action="+action, token, nil)
	if r.err != nil || r.status != http.StatusOK || r.body["total"] != float64(1) {
		t.Errorf("%s: %v %s audit rows (status %d, %v), want 1", id, r.body["total"], action, r.status, r.err)
	}
}
