package delivery_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// serve binds its address before it does anything else: a second `serve`
// started on a port already taken exits non-zero having sent no queued
// delivery and (with --demo) seeded nothing. Then a `serve` on a free port
// sends them all, which shows they were there to be sent.
func TestServeOnTakenPortActsOnNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			const n = 20
			dbURL := testdb.URL(t, engine)
			s, err := store.Open(ctx, dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ids := fixture(t, s, "bf", n)
			start(t, newService(t, s, nil, opts{insertOnly: true}))
			for _, id := range ids {
				approve(t, s, id)
			}
			rcv := newReceiver(t, nil)
			e := env{bin: bin, dbURL: dbURL, webhook: rcv.srv.URL + "/hooks/spendsense"}

			refused := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(bin, append([]string{"serve", "--addr", taken.Addr().String()}, args...)...)
				cmd.Env = e.environ()
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("serve on a taken port: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "address already in use") {
					t.Errorf("serve on a taken port did not say why:\n%s", out)
				}
				return string(out)
			}
			refused()
			if got := len(rcv.snapshot()); got != 0 {
				t.Fatalf("serve on a taken port sent %d deliveries", got)
			}
			if got := countStatus(t, s, review.DeliveryQueued); got != n {
				t.Fatalf("%d deliveries still queued, want %d", got, n)
			}

			// --demo on an empty database: nothing seeded, no credentials.
			emptyURL := testdb.EmptyURL(t, engine)
			demo := env{bin: bin, dbURL: emptyURL, webhook: e.webhook}
			cmd := exec.Command(bin, "serve", "--demo", "--addr", taken.Addr().String())
			cmd.Env = demo.environ()
			out, err := cmd.CombinedOutput()
			if err == nil || strings.Contains(string(out), "demo:") || strings.Contains(string(out), "password=") {
				t.Fatalf("serve --demo on a taken port: %v\n%s", err, out)
			}
			if engine == store.SQLite {
				if _, err := os.Stat(emptyURL); !os.IsNotExist(err) {
					t.Errorf("serve --demo on a taken port created %s", emptyURL)
				}
			} else {
				es, err := store.Open(ctx, emptyURL, store.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				pending, err := es.PendingMigrations(ctx)
				es.Close()
				if err != nil || len(pending) == 0 {
					t.Errorf("serve --demo on a taken port migrated the database (pending %v, %v)", pending, err)
				}
			}

			// The control: on a free port the same deliveries go out.
			p := e.serve(t)
			waitFor(t, 60*time.Second, "all delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == n })
			p.term(t)
			checkExactlyOnce(t, s, rcv, ids)
		})
	}
}
