package delivery_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// An approval's delivery waits out the undo window as a scheduled River
// job; undoing the approval cancels the delivery and its job in the same
// transaction, and a new approval schedules a new one.
func TestUndoCancelsScheduledDelivery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SetUndoWindow(time.Hour)
		ids := fixture(t, s, "ud", 2)
		rcv := newReceiver(t, nil)
		start(t, newService(t, s, rcv.sink(t), opts{}))
		approve(t, s, ids[0])
		approve(t, s, ids[1])
		rec, err := s.GetRecommendation(ctx, ids[0])
		if err != nil || rec.DeliveryStatus == nil || *rec.DeliveryStatus != review.DeliveryScheduled || rec.UndoExpiresAt == nil {
			t.Fatalf("after approval: %+v, %v; want delivery scheduled and an undo window", rec, err)
		}
		if js := jobStates(t, s); js["scheduled"] != 2 {
			t.Fatalf("jobs = %v, want 2 scheduled", js)
		}
		// Workers poll several times; nothing is sent inside the window.
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.snapshot()); n != 0 {
			t.Fatalf("%d deliveries sent inside the undo window", n)
		}

		res, err := s.Undo(ctx, review.UndoInput{ID: ids[0], Actor: operator})
		if err != nil {
			t.Fatal(err)
		}
		if res.Restored != review.StatusPending || res.RevertedFrom != review.StatusApproved || res.Recommendation.Status != review.StatusPending {
			t.Fatalf("undo = %+v", res)
		}
		if d := deliveries(t, s)[ids[0]]; d.Status != review.DeliveryCancelled {
			t.Fatalf("delivery after undo = %+v", d)
		}
		if js := jobStates(t, s); js["scheduled"] != 1 || js["cancelled"] != 1 {
			t.Fatalf("jobs after undo = %v, want 1 scheduled, 1 cancelled", js)
		}
		testdb.CheckInvariants(t, s)
		// One level only.
		if _, err := s.Undo(ctx, review.UndoInput{ID: ids[0], Actor: operator}); review.ErrorCode(err) != review.EConflict {
			t.Fatalf("second undo: %v, want conflict", err)
		}
		// Approving again schedules a new delivery and job.
		approve(t, s, ids[0])
		if js := jobStates(t, s); js["scheduled"] != 2 {
			t.Fatalf("jobs after re-approval = %v", js)
		}
		if d := deliveries(t, s)[ids[0]]; d.Status != review.DeliveryScheduled {
			t.Fatalf("delivery after re-approval = %+v", d)
		}
		testdb.CheckInvariants(t, s)
	})
}

// When the undo window closes the job runs and the delivery is sent.
func TestScheduledDeliveryIsSentAfterTheWindow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		s.SetUndoWindow(200 * time.Millisecond)
		ids := fixture(t, s, "sw", 3)
		rcv := newReceiver(t, nil)
		start(t, newService(t, s, rcv.sink(t), opts{}))
		for _, id := range ids {
			approve(t, s, id)
		}
		waitFor(t, 20*time.Second, "delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 3 })
		checkExactlyOnce(t, s, rcv, ids)
		if _, err := s.Undo(context.Background(), review.UndoInput{ID: ids[0], Actor: operator}); review.ErrorCode(err) != review.EConflict {
			t.Fatalf("undo after delivery: %v, want conflict", err)
		}
		testdb.CheckInvariants(t, s)
	})
}

// An approval undone at the moment its delivery starts: the worker's start
// and the undo race for the same scheduled delivery, and exactly one of
// them wins — never both, never neither.
func TestUndoVersusDeliveryStart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.SetUndoWindow(time.Hour)
		const n = 40
		ids := fixture(t, s, "rc", n)
		newService(t, s, nil, opts{insertOnly: true})
		for _, id := range ids {
			approve(t, s, id)
		}
		type outcome struct {
			undone, started bool
			undoErr         error
		}
		results := make([]outcome, n)
		var wg sync.WaitGroup
		for i, id := range ids {
			gate := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				_, err := s.Undo(ctx, review.UndoInput{ID: id, Actor: operator})
				results[i].undone, results[i].undoErr = err == nil, err
			}()
			go func() {
				defer wg.Done()
				<-gate
				started, err := s.StartDelivery(ctx, id)
				if err != nil {
					t.Errorf("start %s: %v", id, err)
				}
				results[i].started = started
			}()
			close(gate)
		}
		wg.Wait()
		undone, started := 0, 0
		for i, r := range results {
			if r.undone == r.started {
				t.Errorf("%s: undone=%v started=%v (undo error %v): want exactly one", ids[i], r.undone, r.started, r.undoErr)
			}
			rec, err := s.GetRecommendation(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case r.undone:
				undone++
				if rec.Status != review.StatusPending || *rec.DeliveryStatus != review.DeliveryCancelled {
					t.Errorf("%s undone but %s with delivery %s", ids[i], rec.Status, *rec.DeliveryStatus)
				}
			case r.started:
				started++
				if rec.Status != review.StatusApproved || *rec.DeliveryStatus != review.DeliveryQueued {
					t.Errorf("%s started but %s with delivery %s", ids[i], rec.Status, *rec.DeliveryStatus)
				}
				if r.undoErr == nil || !strings.Contains(r.undoErr.Error(), "started") {
					t.Errorf("%s: losing undo said %v", ids[i], r.undoErr)
				}
			}
		}
		t.Logf("%s: %d undone first, %d started first", s.Engine, undone, started)
		testdb.CheckInvariants(t, s)
	})
}
