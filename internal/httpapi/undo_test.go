package httpapi_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestUndo drives undo through the API: each kind of decision taken back,
// who may, the window, one level only, and the stats and invariants true
// throughout (an undone approval is not an approval).
func TestUndo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		var skew atomic.Int64 // moves the store's clock past the window
		s.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
		s.SetUndoWindow(5 * time.Minute)
		e := newEnv(t, s)
		e.addOperator("op_other", review.RoleOperator)
		ids := e.fixture(8, 0)
		op, other, senior := e.as(review.RoleOperator), e.tokens["op_other"], e.as(review.RoleSenior)
		stats := func() map[string]any {
			return e.do("GET", "/api/operator/stats", op, nil).must(t, 200).JSON(t)
		}

		// Approve, then undo: pending again, delivery cancelled.
		ap := e.do("POST", recPath(ids[0])+"/approve", op, nil).must(t, 200).JSON(t)["recommendation"].(map[string]any)
		if ap["previous_status"] != "pending" || ap["status_changed_at"] == nil || ap["undo_window_expires_at"] == nil || ap["delivery_status"] != "scheduled" {
			t.Fatalf("approved = %v", ap)
		}
		if st := stats(); st["approved_today"] != 1.0 {
			t.Fatalf("stats after approval = %v", st)
		}
		if d := e.do("GET", "/api/operator/deliveries?status=scheduled", op, nil).must(t, 200).List(t); len(d) != 1 || d[0]["recommendation_id"] != ids[0] {
			t.Fatalf("deliveries?status=scheduled = %v", d)
		}
		e.do("POST", recPath(ids[0])+"/undo", other, nil).must(t, 403)
		u := e.do("POST", recPath(ids[0])+"/undo", op, nil).must(t, 200).JSON(t)
		rec := u["recommendation"].(map[string]any)
		if u["status"] != "undone" || u["recommendation_id"] != ids[0] || u["restored_status"] != "pending" || u["reverted_from"] != "approved" ||
			u["undone_by"] != "op_operator" || u["undone_at"] == nil {
			t.Fatalf("undo = %v", u)
		}
		if rec["status"] != "pending" || rec["previous_status"] != "approved" || rec["undo_window_expires_at"] != nil ||
			rec["approved_by"] != nil || rec["approved_at"] != nil || rec["delivery_status"] != "cancelled" {
			t.Fatalf("undone recommendation = %v", rec)
		}
		for _, status := range []string{"cancelled", "all"} {
			d := e.do("GET", "/api/operator/deliveries?status="+status, op, nil).must(t, 200).List(t)
			if len(d) != 1 || d[0]["recommendation_id"] != ids[0] || d[0]["status"] != "cancelled" {
				t.Fatalf("deliveries?status=%s after undo = %v", status, d)
			}
		}
		if st := stats(); st["approved_today"] != 0.0 || st["pending"] != 8.0 {
			t.Fatalf("stats after undo = %v", st)
		}
		r := e.do("POST", recPath(ids[0])+"/undo", op, nil).must(t, 409)
		if r.JSON(t)["current_status"] != "pending" {
			t.Errorf("second undo: %s", r.Body)
		}
		a := e.auditOf(ids[0], "undo")
		if len(a) != 1 {
			t.Fatalf("undo rows = %v", a)
		}
		m := a[0]["metadata"].(map[string]any)
		if m["reverted_from"] != "approved" || m["restored_status"] != "pending" || m["undone_audit_id"] != e.auditOf(ids[0], "approve")[0]["audit_id"] {
			t.Fatalf("undo metadata = %v", m)
		}
		testdb.CheckInvariants(t, s)

		// Reject, then a senior undoes it.
		e.do("POST", recPath(ids[1])+"/reject", op, map[string]any{"reason": "off tone"}).must(t, 200)
		if st := stats(); st["rejected_today"] != 1.0 {
			t.Fatalf("stats after reject = %v", st)
		}
		u = e.do("POST", recPath(ids[1])+"/undo", senior, nil).must(t, 200).JSON(t)
		if u["restored_status"] != "pending" || u["reverted_from"] != "rejected" || u["recommendation"].(map[string]any)["rejected_at"] != nil {
			t.Fatalf("undo reject = %v", u)
		}
		if st := stats(); st["rejected_today"] != 0.0 {
			t.Fatalf("stats after undoing the reject = %v", st)
		}

		// Flag, then undo: the flag is withdrawn.
		e.do("POST", recPath(ids[2])+"/flag", op, map[string]any{"reason": "check"}).must(t, 200)
		e.do("POST", recPath(ids[2])+"/undo", op, nil).must(t, 200)
		if f := e.do("GET", "/api/operator/flags", op, nil).must(t, 200).List(t); len(f) != 0 {
			t.Fatalf("flags after undoing the flag = %v", f)
		}
		if st := stats(); st["flagged"] != 0.0 {
			t.Fatalf("stats after undoing the flag = %v", st)
		}

		// Flag, resolve by approval, undo the resolution: flagged again, the
		// flag open again, the delivery cancelled.
		flagID := e.do("POST", recPath(ids[3])+"/flag", op, map[string]any{"reason": "check"}).must(t, 200).JSON(t)["flag_id"].(string)
		e.do("POST", "/api/operator/flags/"+flagID+"/resolve", senior, map[string]any{"resolution": "approve", "notes": "fine"}).must(t, 200)
		e.do("POST", recPath(ids[3])+"/undo", op, nil).must(t, 403) // the resolution was the senior's
		u = e.do("POST", recPath(ids[3])+"/undo", senior, nil).must(t, 200).JSON(t)
		if u["restored_status"] != "flagged" || u["recommendation"].(map[string]any)["delivery_status"] != "cancelled" {
			t.Fatalf("undo resolution = %v", u)
		}
		if f := e.do("GET", "/api/operator/flags", op, nil).must(t, 200).List(t); len(f) != 1 || f[0]["flag_id"] != flagID {
			t.Fatalf("flags after undoing the resolution = %v", f)
		}
		// Requeue, then undo: flagged again.
		e.do("POST", "/api/operator/flags/"+flagID+"/resolve", senior, map[string]any{"resolution": "requeue", "notes": "again"}).must(t, 200)
		e.do("POST", recPath(ids[3])+"/undo", senior, nil).must(t, 200)
		testdb.CheckInvariants(t, s)

		// Nothing to undo: never decided, or only edited.
		e.do("POST", recPath(ids[4])+"/undo", op, nil).must(t, 409)
		e.do("PATCH", recPath(ids[4]), op, map[string]any{"title": "New title"}).must(t, 200)
		e.do("POST", recPath(ids[4])+"/undo", op, nil).must(t, 409)
		e.do("POST", recPath("no_such_rec")+"/undo", op, nil).must(t, 404)

		// If-Match and Idempotency-Key.
		e.do("POST", recPath(ids[5])+"/approve", op, nil).must(t, 200)
		e.do("POST", recPath(ids[5])+"/undo", op, nil, "If-Match", `"1"`).must(t, 412)
		first := e.do("POST", recPath(ids[5])+"/undo", op, nil, "If-Match", `"2"`, "Idempotency-Key", "undo-5").must(t, 200)
		again := e.do("POST", recPath(ids[5])+"/undo", op, nil, "If-Match", `"2"`, "Idempotency-Key", "undo-5").must(t, 200)
		if string(first.Body) != string(again.Body) || len(e.auditOf(ids[5], "undo")) != 1 {
			t.Fatalf("replayed undo acted again or answered differently:\n%s\n%s", first.Body, again.Body)
		}

		// The window closes.
		e.do("POST", recPath(ids[6])+"/approve", op, nil).must(t, 200)
		skew.Store(int64(6 * time.Minute))
		r = e.do("POST", recPath(ids[6])+"/undo", op, nil).must(t, 409)
		if !strings.Contains(r.JSON(t)["detail"].(string), "window closed") {
			t.Errorf("late undo: %s", r.Body)
		}
		skew.Store(0)

		// Undo off: decisions carry no window and cannot be undone.
		s.SetUndoWindow(0)
		ap = e.do("POST", recPath(ids[7])+"/approve", op, nil).must(t, 200).JSON(t)["recommendation"].(map[string]any)
		if ap["undo_window_expires_at"] != nil || ap["delivery_status"] != "queued" {
			t.Fatalf("approved with undo off = %v", ap)
		}
		e.do("POST", recPath(ids[7])+"/undo", op, nil).must(t, 409)
		testdb.CheckInvariants(t, s)
	})
}
