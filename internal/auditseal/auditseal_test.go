package auditseal_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/auditseal"
	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestPeriodicJobSealsNewRows runs the seal job on a real River client
// beside deliveries: rows written before it starts and while it runs are
// sealed, and the trail verifies with the public key.
func TestPeriodicJobSealsNewRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		key := ed25519.NewKeyFromSeed(make([]byte, 32))
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		ids := testdb.Fixture(t, s, 6, 0)
		actor := review.Actor{ID: "op", Role: review.RoleOperator}
		approve := func(id string) {
			if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: actor}); err != nil {
				t.Fatal(err)
			}
		}
		approve(ids[0])
		svc, err := delivery.New(delivery.Config{Store: s, Logger: log, PollInterval: 20 * time.Millisecond,
			Jobs: []delivery.Jobs{auditseal.Jobs(s, key, 100*time.Millisecond, log)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetDeliveryQueue(svc.Queue()); err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = svc.Stop(context.Background()) }()
		waitSealed := func(rows int64) auditproof.Report {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				rep, err := s.VerifyAudit(ctx, auditproof.NewVerifier(key.Public().(ed25519.PublicKey)))
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() {
					t.Fatalf("verify: %v", rep.Problems)
				}
				if rep.Rows == rows && rep.Unsealed == 0 && rep.Seals > 0 {
					return rep
				}
				if time.Now().After(deadline) {
					t.Fatalf("rows still unsealed after 30 s: %+v", rep)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		first := waitSealed(1)
		for _, id := range ids[1:] {
			approve(id)
		}
		last := waitSealed(6)
		if last.Seals <= first.Seals {
			t.Fatalf("no new seal for the new rows: %d then %d seals", first.Seals, last.Seals)
		}
	})
}
