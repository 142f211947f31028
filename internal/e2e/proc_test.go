package e2e

import (
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

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// binary is the spendsense binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spendsense-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "spendsense")
	out, err := exec.Command("go", "build", "-race", "-o", binary, "github.com/spendsense/operator-api/cmd/spendsense").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build spendsense: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testdb.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "e2e-secret-e2e-secret-e2e-secret-e2e-secret"

// server is one running `spendsense serve` process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{}
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

// startServer runs serve against dbURL and waits until it is ready.
func startServer(t *testing.T, dbURL string, extraEnv ...string) *server {
	t.Helper()
	return startServerArgs(t, dbURL, nil, extraEnv...)
}

// startServerArgs is startServer with more serve flags.
func startServerArgs(t *testing.T, dbURL string, args []string, extraEnv ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "SPENDSENSE_JWT_SECRET="+secret, "SPENDSENSE_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, url: "http://" + addr, logs: logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("server exited early:\n%s", logs)
		default:
		}
		if res, err := http.Get(s.url + "/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server not ready after 60s:\n%s", logs)
	return nil
}

// kill sends SIGKILL: no shutdown, no cleanup, like a crashed machine.
func (s *server) kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-s.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Errorf("server did not stop within 30s of SIGTERM")
		s.kill()
	}
}

// seedDB fills a database with n recommendations and one operator per role,
// and returns tokens by role.
func seedDB(t *testing.T, dbURL string, n int) ([]string, map[review.Role]string) {
	t.Helper()
	s, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := testdb.Fixture(t, s, n, 0)
	issuer, err := auth.NewIssuer([]byte(secret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("e2e password")
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[review.Role]string{}
	for _, r := range review.Roles {
		id := "e2e_" + r
		if err := s.CreateOperator(context.Background(), review.Operator{ID: id, Name: id, Role: review.Role(r)}, hash); err != nil {
			t.Fatal(err)
		}
		tok, _, err := issuer.Issue(id, review.Role(r))
		if err != nil {
			t.Fatal(err)
		}
		tokens[review.Role(r)] = tok
	}
	return ids, tokens
}

// client sends JSON requests to a server.
var client = &http.Client{Timeout: 30 * time.Second}

type result struct {
	status int
	body   map[string]any
	err    error
}

func call(base, method, path, token string, body any) result {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// checkInvariants runs `spendsense check` as an operator would.
func checkInvariants(t *testing.T, dbURL string) {
	t.Helper()
	cmd := exec.Command(binary, "check")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spendsense check failed: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ok:") {
		t.Fatalf("spendsense check: %s", out)
	}
}

// counter is a concurrency-safe tally.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(k string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k] += n
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

type listResult struct {
	list []map[string]any
	err  error
}

func callList(base, path, token string) listResult {
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		return listResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return listResult{err: err}
	}
	defer res.Body.Close()
	var l []map[string]any
	err = json.NewDecoder(res.Body).Decode(&l)
	return listResult{list: l, err: err}
}
