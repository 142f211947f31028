package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// checkExactlyOnce fails unless the receiver accepted each id exactly once,
// every request it saw was validly signed, and every id is delivered.
func checkExactlyOnce(t *testing.T, s *store.Store, rcv *receiver, ids []string) {
	t.Helper()
	ok := rcv.successes()
	for _, id := range ids {
		if ok[id] != 1 {
			t.Errorf("receiver accepted %s %d times, want 1", id, ok[id])
		}
	}
	if len(ok) != len(ids) {
		t.Errorf("receiver accepted %d distinct ids, want %d", len(ok), len(ids))
	}
	for _, h := range rcv.snapshot() {
		if !h.validSig {
			t.Errorf("request for %s: invalid signature", h.id)
		}
		if h.event.DeliveryID != h.id || h.event.Recommendation.ID != h.id || h.header.Get("Idempotency-Key") != h.id {
			t.Errorf("request for %s: delivery id header %q, body %q/%q, Idempotency-Key %q", h.id, h.id,
				h.event.DeliveryID, h.event.Recommendation.ID, h.header.Get("Idempotency-Key"))
		}
	}
	ds := deliveries(t, s)
	for _, id := range ids {
		if d := ds[id]; d.Status != review.DeliveryDelivered || d.DeliveredAt == nil {
			t.Errorf("delivery %s = %+v, want delivered", id, d)
		}
	}
	gaps, err := s.DeliveryJobGaps(context.Background())
	if err != nil || len(gaps) != 0 {
		t.Errorf("DeliveryJobGaps = %v, %v; want none", gaps, err)
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		n, err := s.Migrate(context.Background())
		if err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
		var jobs int
		if err := s.Read.QueryRow(`SELECT COUNT(*) FROM river_job`).Scan(&jobs); err != nil {
			t.Fatalf("river_job missing after Migrate: %v", err)
		}
	})
}

// Every way of approving — single, bulk, flag resolution — delivers once,
// signed, with the payload the notification system needs.
func TestDeliverSuccess(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "ok", 6)
		rcv := newReceiver(t, nil)
		reg := prometheus.NewRegistry()
		svc := newService(t, s, rcv.sink(t), opts{reg: reg})
		start(t, svc)

		approve(t, s, ids[0])
		res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: operator, IDs: ids[1:5], Notes: "batch"})
		if err != nil || res.Approved != 4 {
			t.Fatalf("bulk approve = %+v, %v", res, err)
		}
		_, flagID, err := s.Flag(ctx, review.FlagInput{ID: ids[5], Actor: operator, Reason: "check tone"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ResolveFlag(ctx, review.ResolveInput{FlagID: flagID, Actor: senior, Resolution: "approve", Notes: "fine"}); err != nil {
			t.Fatal(err)
		}

		waitFor(t, 15*time.Second, "6 delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 6 })
		checkExactlyOnce(t, s, rcv, ids)
		for _, d := range deliveries(t, s) {
			if d.Attempts != 1 || d.LastError != nil {
				t.Errorf("delivery %s: attempts %d, last error %v; want 1, none", d.RecommendationID, d.Attempts, d.LastError)
			}
		}
		h := rcv.snapshot()[0]
		ev := h.event
		if ev.Event != "recommendation.approved" || ev.Recommendation.UserID != "u1" || ev.Recommendation.Type != "article" ||
			ev.Recommendation.Priority != "high" || ev.Recommendation.PersonaPrimary != "high_utilization" ||
			ev.Recommendation.ContentURL == nil || ev.Recommendation.ReadTimeMinutes == nil || *ev.Recommendation.ReadTimeMinutes != 5 ||
			ev.Recommendation.ApprovedBy == nil || ev.Recommendation.ApprovedAt == nil || !strings.HasPrefix(ev.Recommendation.Title, "Understanding") {
			t.Errorf("event = %+v", ev)
		}
		if got := h.header.Get(delivery.HeaderEvent); got != "recommendation.approved" {
			t.Errorf("%s = %q", delivery.HeaderEvent, got)
		}
		rec, err := s.GetRecommendation(ctx, ids[0])
		if err != nil || rec.DeliveryStatus == nil || *rec.DeliveryStatus != "delivered" || rec.DeliveredAt == nil {
			t.Errorf("recommendation delivery status = %v, delivered_at %v (%v)", rec.DeliveryStatus, rec.DeliveredAt, err)
		}
		waitCounters(t, reg, map[string]float64{delivery.OutcomeDelivered: 6})
	})
}

// A 500 is retried; the receiver ends up with exactly one accepted delivery,
// and both attempts carry a valid signature over identical bytes.
func TestRetryAfter500(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ids := fixture(t, s, "r5", 3)
		rcv := newReceiver(t, func(_ string, n int) (int, http.Header) {
			if n == 1 {
				return http.StatusInternalServerError, nil
			}
			return http.StatusOK, nil
		})
		reg := prometheus.NewRegistry()
		svc := newService(t, s, rcv.sink(t), opts{reg: reg})
		start(t, svc)
		for _, id := range ids {
			approve(t, s, id)
		}
		waitFor(t, 15*time.Second, "3 delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 3 })
		checkExactlyOnce(t, s, rcv, ids)
		if got := len(rcv.snapshot()); got != 6 {
			t.Errorf("receiver saw %d requests, want 6 (one 500 and one 200 each)", got)
		}
		sigs := map[string][]string{}
		for _, h := range rcv.snapshot() {
			sigs[h.id] = append(sigs[h.id], h.header.Get(delivery.HeaderSignature))
		}
		for id, ss := range sigs {
			if len(ss) != 2 || ss[0] != ss[1] {
				t.Errorf("%s: signatures %v, want two identical (same body on retry)", id, ss)
			}
		}
		for _, d := range deliveries(t, s) {
			if d.Attempts != 2 {
				t.Errorf("delivery %s: attempts %d, want 2", d.RecommendationID, d.Attempts)
			}
		}
		waitCounters(t, reg, map[string]float64{delivery.OutcomeRetry: 3, delivery.OutcomeDelivered: 3})
	})
}

// A 400 fails at once: one request, no retry, failed with the reason. An
// admin retry then delivers it.
func TestPermanent400ThenAdminRetry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "p4", 1)
		var mu sync.Mutex
		reject := true
		rcv := newReceiver(t, func(string, int) (int, http.Header) {
			mu.Lock()
			defer mu.Unlock()
			if reject {
				return http.StatusBadRequest, nil
			}
			return http.StatusAccepted, nil
		})
		reg := prometheus.NewRegistry()
		svc := newService(t, s, rcv.sink(t), opts{reg: reg, maxAttempts: 5})
		start(t, svc)
		approve(t, s, ids[0])
		waitFor(t, 15*time.Second, "failed", func() bool { return countStatus(t, s, review.DeliveryFailed) == 1 })
		time.Sleep(300 * time.Millisecond) // a retry, if there were one, would come now
		if got := len(rcv.snapshot()); got != 1 {
			t.Fatalf("receiver saw %d requests, want exactly 1", got)
		}
		d := deliveries(t, s)[ids[0]]
		if d.Attempts != 1 || d.FailedAt == nil || d.LastError == nil || !strings.Contains(*d.LastError, "400") {
			t.Fatalf("delivery = %+v (last error %v)", d, d.LastError)
		}
		waitCounters(t, reg, map[string]float64{delivery.OutcomeFailed: 1})
		waitFor(t, 10*time.Second, "job cancelled", func() bool { return jobStates(t, s)["cancelled"] == 1 })
		if gaps, _ := s.DeliveryJobGaps(ctx); len(gaps) != 0 {
			t.Errorf("a failed delivery is not a gap: %v", gaps)
		}

		mu.Lock()
		reject = false
		mu.Unlock()
		if err := s.RetryDelivery(ctx, admin, ids[0]); err != nil {
			t.Fatalf("retry: %v", err)
		}
		waitFor(t, 15*time.Second, "delivered after retry", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 1 })
		if ok := rcv.successes()[ids[0]]; ok != 1 {
			t.Errorf("accepted %d times after retry, want 1", ok)
		}
		if d := deliveries(t, s)[ids[0]]; d.Attempts != 2 || d.LastError != nil {
			t.Errorf("after retry: %+v", d)
		}
	})
}

// With the receiver down, each attempt fails to connect; after MaxAttempts
// the delivery is failed.
func TestReceiverDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ids := fixture(t, s, "dn", 2)
		rcv := newReceiver(t, nil)
		sink := rcv.sink(t)
		rcv.srv.Close() // nothing listens there now
		reg := prometheus.NewRegistry()
		svc := newService(t, s, sink, opts{reg: reg, maxAttempts: 4})
		start(t, svc)
		for _, id := range ids {
			approve(t, s, id)
		}
		waitFor(t, 20*time.Second, "2 failed", func() bool { return countStatus(t, s, review.DeliveryFailed) == 2 })
		for _, d := range deliveries(t, s) {
			if d.Attempts != 4 || d.LastError == nil || !strings.Contains(*d.LastError, "refused") {
				t.Errorf("delivery %s: attempts %d, last error %v; want 4, connection refused", d.RecommendationID, d.Attempts, d.LastError)
			}
		}
		waitCounters(t, reg, map[string]float64{delivery.OutcomeRetry: 6, delivery.OutcomeFailed: 2})
	})
}

// A 429's Retry-After is honoured.
func TestRetryAfterHeader(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ids := fixture(t, s, "ra", 1)
		rcv := newReceiver(t, func(_ string, n int) (int, http.Header) {
			if n == 1 {
				return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
			}
			return http.StatusOK, nil
		})
		start(t, newService(t, s, rcv.sink(t), opts{}))
		approve(t, s, ids[0])
		waitFor(t, 15*time.Second, "delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 1 })
		h := rcv.snapshot()
		if len(h) != 2 {
			t.Fatalf("%d requests, want 2", len(h))
		}
		if gap := h[1].at.Sub(h[0].at); gap < 950*time.Millisecond {
			t.Errorf("retried after %s, want ≥ 1s (Retry-After: 1)", gap)
		}
	})
}

// Approvals made while no worker runs (an API-only process) are delivered,
// each exactly once, when workers start.
func TestRestartDeliversPending(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 60
		ids := fixture(t, s, "rs", n)
		rcv := newReceiver(t, nil)

		api := newService(t, s, nil, opts{insertOnly: true})
		start(t, api) // a no-op: insert only
		for _, id := range ids[:10] {
			approve(t, s, id)
		}
		if res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: operator, IDs: ids[10:]}); err != nil || res.Approved != n-10 {
			t.Fatalf("bulk approve = %+v, %v", res, err)
		}
		time.Sleep(300 * time.Millisecond)
		if got := countStatus(t, s, review.DeliveryQueued); got != n {
			t.Fatalf("%d queued with no workers, want %d", got, n)
		}
		if len(rcv.snapshot()) != 0 {
			t.Fatal("an insert-only service delivered something")
		}
		if js := jobStates(t, s); js["available"] != n {
			t.Fatalf("jobs = %v, want %d available", js, n)
		}

		start(t, newService(t, s, rcv.sink(t), opts{}))
		waitFor(t, 30*time.Second, "all delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == n })
		checkExactlyOnce(t, s, rcv, ids)
		t.Logf("%s: %d approved with workers stopped → %d delivered after start, %d requests", s.Engine, n, len(rcv.successes()), len(rcv.snapshot()))
	})
}

// A queued delivery with no job (written by a seed, or before River) is a
// gap; starting workers enqueues and delivers it.
func TestGapsRequeuedOnStart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "gp", 3)
		if err := s.SetDeliveryQueue(store.NoDeliveryJobs); err != nil { // approvals without the queue
			t.Fatal(err)
		}
		for _, id := range ids {
			approve(t, s, id)
		}
		gaps, err := s.DeliveryJobGaps(ctx)
		if err != nil || !slices.Equal(gaps, ids) {
			t.Fatalf("gaps = %v, %v; want %v", gaps, err, ids)
		}
		rcv := newReceiver(t, nil)
		start(t, newService(t, s, rcv.sink(t), opts{}))
		waitFor(t, 15*time.Second, "delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 3 })
		checkExactlyOnce(t, s, rcv, ids)
	})
}

// The job is part of the approving transaction: an approval that fails
// leaves no job, and a failing enqueue rolls back the approval.
func TestApprovalAndJobAreAtomic(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "at", 2)
		newService(t, s, nil, opts{insertOnly: true})
		approve(t, s, ids[0])
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[0], Actor: operator}); review.ErrorCode(err) != review.EConflict {
			t.Fatalf("second approve: %v, want conflict", err)
		}
		if js := jobStates(t, s); js["available"] != 1 {
			t.Fatalf("jobs = %v, want exactly 1", js)
		}
		failing := store.DeliveryQueue{ // the enqueuer fails: the approval must not commit
			Enqueue: func(context.Context, *store.Tx, []string, time.Time) error { return fmt.Errorf("queue unavailable") },
			Cancel:  store.NoDeliveryJobs.Cancel,
		}
		if err := s.SetDeliveryQueue(failing); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[1], Actor: operator}); err == nil {
			t.Fatal("approve succeeded without its job")
		}
		rec, err := s.GetRecommendation(ctx, ids[1])
		if err != nil || rec.Status != review.StatusPending || rec.DeliveryStatus != nil {
			t.Fatalf("after failed enqueue: %+v, %v; want pending, no delivery", rec, err)
		}
	})
}

// 200 concurrent approvals with workers running: no SQLITE_BUSY, no lost
// job, each delivered exactly once — and reads are not serialized behind the
// writer meanwhile.
func TestConcurrentApprovals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 200
		ids := fixture(t, s, "cc", n)
		rcv := newReceiver(t, nil)
		reg := prometheus.NewRegistry()
		start(t, newService(t, s, rcv.sink(t), opts{reg: reg}))

		began := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		stopReads := make(chan struct{})
		var reads, readErrs int64
		var slowest time.Duration
		var rmu sync.Mutex
		for r := 0; r < 2; r++ { // readers beside the writers
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stopReads:
						return
					case <-time.After(2 * time.Millisecond):
					}
					t0 := time.Now()
					_, err := s.GetRecommendation(ctx, ids[i%n])
					d := time.Since(t0)
					rmu.Lock()
					reads++
					slowest = max(slowest, d)
					if err != nil {
						readErrs++
					}
					rmu.Unlock()
				}
			}()
		}
		var awg sync.WaitGroup
		for _, id := range ids {
			awg.Add(1)
			go func() {
				defer awg.Done()
				if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: operator}); err != nil {
					errs <- fmt.Errorf("approve %s: %w", id, err)
				}
			}()
		}
		awg.Wait()
		approveTime := time.Since(began)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		waitFor(t, 60*time.Second, "200 delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == n })
		close(stopReads)
		wg.Wait()
		total := time.Since(began)
		checkExactlyOnce(t, s, rcv, ids)
		if f := countStatus(t, s, review.DeliveryFailed); f != 0 {
			t.Errorf("%d failed", f)
		}
		if readErrs != 0 {
			t.Errorf("%d of %d concurrent reads failed", readErrs, reads)
		}
		if r := counter(reg, delivery.OutcomeRetry); r != 0 {
			t.Errorf("%v retries, want 0", r)
		}
		t.Logf("%s: %d concurrent approvals in %s, all %d delivered exactly once after %s; %d reads meanwhile (slowest %s), 0 errors",
			s.Engine, n, approveTime.Round(time.Millisecond), len(rcv.successes()), total.Round(time.Millisecond), reads, slowest.Round(time.Microsecond))
	})
}

// Bulk-approving 1,000 ids inserts 1,000 jobs in the same transaction. How
// fast is the load benchmark's question (its bulk-1000 row), not a test's.
func TestBulkApprove1000(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ids := fixture(t, s, "bk", 1000)
		newService(t, s, nil, opts{insertOnly: true})
		began := time.Now()
		res, err := s.BulkApprove(context.Background(), review.BulkApproveInput{Actor: operator, IDs: ids})
		took := time.Since(began)
		if err != nil || res.Approved != 1000 {
			t.Fatalf("bulk approve = %+v, %v", res.Approved, err)
		}
		if js := jobStates(t, s); js["available"] != 1000 {
			t.Fatalf("jobs = %v", js)
		}
		t.Logf("%s: bulk approve of 1000 with their jobs in %s", s.Engine, took.Round(time.Millisecond))
	})
}

// An admin retry while the delivery's previous job is still live (River has
// not yet recorded its end) is a conflict that changes nothing — never a
// "queued" delivery whose job was silently skipped as a duplicate.
func TestRetryWhileJobLiveIsConflict(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "lv", 1)
		newService(t, s, nil, opts{insertOnly: true})
		approve(t, s, ids[0]) // its job is available: no workers
		// As if the worker had just recorded the failure, before River
		// finalized the job.
		if _, err := s.MarkDeliveryFailed(ctx, ids[0], "webhook responded 400 Bad Request"); err != nil {
			t.Fatal(err)
		}
		err := s.RetryDelivery(ctx, admin, ids[0])
		if review.ErrorCode(err) != review.EConflict || !strings.Contains(err.Error(), "still finishing") {
			t.Fatalf("retry = %v, want a conflict", err)
		}
		if d := deliveries(t, s)[ids[0]]; d.Status != review.DeliveryFailed {
			t.Fatalf("delivery = %s, want still failed", d.Status)
		}
		logs, err := s.Read.QueryContext(ctx, `SELECT COUNT(*) FROM operator_audit_log WHERE action = 'retry_delivery'`)
		if err != nil {
			t.Fatal(err)
		}
		defer logs.Close()
		var n int
		for logs.Next() {
			_ = logs.Scan(&n)
		}
		if n != 0 {
			t.Fatalf("%d retry_delivery audit rows, want 0", n)
		}
		if js := jobStates(t, s); js["available"] != 1 || len(js) != 1 {
			t.Fatalf("jobs = %v, want the one live job", js)
		}
	})
}

// A job run again after its delivery was recorded (a worker that died
// between recording and River completing the job) sends nothing.
func TestJobForRecordedDeliverySendsNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := fixture(t, s, "dd", 2)
		newService(t, s, nil, opts{insertOnly: true})
		approve(t, s, ids[0])
		approve(t, s, ids[1])
		if _, err := s.MarkDelivered(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkDeliveryFailed(ctx, ids[1], "gave up"); err != nil {
			t.Fatal(err)
		}
		rcv := newReceiver(t, nil)
		start(t, newService(t, s, rcv.sink(t), opts{}))
		waitFor(t, 10*time.Second, "jobs finished", func() bool {
			js := jobStates(t, s)
			return js["completed"] == 1 && js["cancelled"] == 1
		})
		if n := len(rcv.snapshot()); n != 0 {
			t.Fatalf("receiver saw %d requests, want 0", n)
		}
	})
}
