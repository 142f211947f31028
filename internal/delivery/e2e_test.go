package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// binaryDir holds the binary buildBinary built; TestMain removes it.
var binaryDir string

// buildBinary builds cmd/spendsense once per test process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "spendsense-e2e-")
	if err != nil {
		return "", err
	}
	binaryDir = dir
	bin := filepath.Join(dir, "spendsense")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/spendsense/operator-api/cmd/spendsense").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a running `spendsense serve`.
type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	bin, dbURL, webhook string
}

func (e env) environ() []string {
	return append(os.Environ(),
		"DATABASE_URL="+e.dbURL,
		"SPENDSENSE_JWT_SECRET=e2e-jwt-secret-0123456789abcdef0123456789",
		"SPENDSENSE_DELIVERY_WEBHOOK_URL="+e.webhook,
		"SPENDSENSE_DELIVERY_SECRET="+secret,
		"SPENDSENSE_LOG_LEVEL=info",
		// Deliveries wait out a short undo window, then go: the scheduled
		// path across processes, without making the test wait minutes.
		"SPENDSENSE_UNDO_WINDOW=1s",
	)
}

// run runs a spendsense command to completion and returns its stdout.
func (e env) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.environ()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("spendsense %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve starts `spendsense serve args…`; with the API on, it waits for /health.
func (e env) serve(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{logs: &syncBuffer{}, done: make(chan error, 1)}
	api := !strings.Contains(strings.Join(args, " "), "--api=false")
	if api {
		p.addr = freeAddr(t)
		args = append(args, "--addr", p.addr)
	}
	p.cmd = exec.Command(e.bin, append([]string{"serve"}, args...)...)
	p.cmd.Env = e.environ()
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("serve %v logs:\n%s", args, p.logs.String())
		}
	})
	if api {
		waitFor(t, 30*time.Second, "server up", func() bool {
			resp, err := http.Get("http://" + p.addr + "/health")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
	} else {
		waitFor(t, 30*time.Second, "workers up", func() bool { return strings.Contains(p.logs.String(), "delivery workers started") })
	}
	return p
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", p.logs.String())
	}
}

func (p *proc) post(t *testing.T, token, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Errorf("POST %s: %d %s", path, resp.StatusCode, rb)
	}
}

// TestEndToEnd runs real `spendsense serve` processes against a real webhook
// receiver: N approvals through the HTTP API, a SIGTERM in the middle of
// delivering them, a restart, then the API-only / worker-only split. The
// receiver must end with every approval exactly once, validly signed.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range testdb.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			const n = 120 // 60 before the restart, 60 after it
			ctx := context.Background()
			dbURL := testdb.URL(t, engine)
			s, err := store.Open(ctx, dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ids := fixture(t, s, "e2e", n)

			// A slow receiver (so SIGTERM finds deliveries still queued) that
			// answers the first request for every 7th id with a 503.
			rcv := newReceiver(t, func(id string, k int) (int, http.Header) {
				time.Sleep(60 * time.Millisecond)
				var i int
				fmt.Sscanf(strings.TrimPrefix(id, "e2e"), "%d", &i)
				if i%7 == 0 && k == 1 {
					return http.StatusServiceUnavailable, nil
				}
				return http.StatusOK, nil
			})
			e := env{bin: bin, dbURL: dbURL, webhook: rcv.srv.URL + "/hooks/spendsense"}
			e.run(t, "e2e-operator-password-123\n", "operators", "add", "--id", "op_e2e", "--name", "E2E Operator", "--role", "operator")
			token := strings.TrimSpace(e.run(t, "", "token", "--operator", "op_e2e"))

			// Phase 1: one process, API and workers. Approve 60 (40 singly,
			// concurrently, and 20 in one bulk request), then SIGTERM as soon
			// as the first deliveries are through, with more in flight.
			a := e.serve(t)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for _, id := range ids[:40] {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					a.post(t, token, "/api/operator/recommendations/"+id+"/approve", map[string]any{"notes": "e2e"})
				}()
			}
			wg.Wait()
			a.post(t, token, "/api/operator/recommendations/bulk-approve", map[string]any{"recommendation_ids": ids[40:60]})
			waitFor(t, 30*time.Second, "first deliveries", func() bool { return len(rcv.successes()) >= 5 })
			a.term(t)
			beforeRestart := len(rcv.successes())
			queuedAtStop := countStatus(t, s, review.DeliveryQueued)

			// Phase 2: restart; the pending deliveries go out.
			b := e.serve(t)
			waitFor(t, 60*time.Second, "60 delivered after restart", func() bool { return countStatus(t, s, review.DeliveryDelivered) == 60 })
			b.term(t)

			// Phase 3: an API-only process and a worker-only process.
			api := e.serve(t, "--workers=false")
			wk := e.serve(t, "--api=false")
			for _, id := range ids[60:100] {
				api.post(t, token, "/api/operator/recommendations/"+id+"/approve", map[string]any{})
			}
			api.post(t, token, "/api/operator/recommendations/bulk-approve", map[string]any{"recommendation_ids": ids[100:]})
			waitFor(t, 60*time.Second, "all delivered", func() bool { return countStatus(t, s, review.DeliveryDelivered) == n })
			api.term(t)
			wk.term(t)
			if strings.Contains(api.logs.String(), `"msg":"delivered"`) || !strings.Contains(wk.logs.String(), `"msg":"delivered"`) {
				t.Error("the API-only process delivered something, or the worker-only one nothing")
			}

			checkExactlyOnce(t, s, rcv, ids)
			retried := 0
			for _, d := range deliveries(t, s) {
				if d.Attempts > 1 {
					retried++
				}
			}
			valid := 0
			for _, h := range rcv.snapshot() {
				if h.validSig {
					valid++
				}
			}
			out := e.run(t, "", "check")
			t.Logf("%s: %d approved via HTTP; %d delivered before SIGTERM with %d still queued; after restart and the API/worker split: %d/%d delivered exactly once, %d requests (%d with valid signatures), %d deliveries retried after a 503; check: %s",
				engine, n, beforeRestart, queuedAtStop, len(rcv.successes()), n, len(rcv.snapshot()), valid, retried, firstLine(out))
			if queuedAtStop == 0 {
				t.Log("note: every delivery finished before SIGTERM; the restart had nothing pending")
			}
		})
	}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}
