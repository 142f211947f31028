package testdb

import (
	"log/slog"
	"testing"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/store"
)

// DeliveryQueue gives s the delivery queue of an API-only process:
// approvals insert their delivery job in the approving transaction, and no
// worker runs, so deliveries stay queued.
func DeliveryQueue(t testing.TB, s *store.Store) {
	t.Helper()
	dsvc, err := delivery.New(delivery.Config{Store: s, InsertOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeliveryQueue(dsvc.Queue()); err != nil {
		t.Fatal(err)
	}
}
