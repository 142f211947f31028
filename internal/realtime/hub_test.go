package realtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/realtime"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestSlowSubscriberDropped: a stream that does not take its events is
// dropped once its buffer is full, while one that keeps up gets every event.
func TestSlowSubscriberDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 6, 0)
		h := realtime.New(realtime.Config{Store: s, Poll: 20 * time.Millisecond, Buffer: 2})
		defer h.Close()
		slow, _, err := h.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fast, _, err := h.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 100)
		go func() {
			for {
				select {
				case batch := <-fast.Events():
					for _, ev := range batch.Events {
						if !ev.Derived {
							got <- string(ev.Full)
						}
					}
				case <-fast.Gone():
					close(got)
					return
				}
			}
		}()
		// One approval at a time, each taken by the fast subscriber before
		// the next: it never has more than one batch waiting, while the
		// slow one's buffer of 2 batches fills.
		for _, id := range ids {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: review.Actor{ID: "op", Role: review.RoleOperator}}); err != nil {
				t.Fatal(err)
			}
			select {
			case _, ok := <-got:
				if !ok {
					t.Fatal("the subscriber that keeps up was dropped")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the subscriber that keeps up missed an event")
			}
		}
		select {
		case <-slow.Gone():
		case <-time.After(20 * time.Second):
			t.Fatal("a subscriber that reads nothing was not dropped")
		}
		if n := h.Streams(); n != 1 {
			t.Errorf("%d subscriptions, want 1", n)
		}
	})
}
