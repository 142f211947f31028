package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// loginFrom posts a login from the local address ip (any of 127.0.0.0/8)
// and returns the status and Retry-After.
func (e *env) loginFrom(ip string, body map[string]any) (int, string) {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	b, _ := json.Marshal(body)
	res, err := client.Post(e.srv.URL+"/api/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Error(err)
		return 0, ""
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Retry-After")
}

// TestLoginBurst sends 100 wrong passwords for one operator at once, by id
// and by e-mail in any case, then the right one: the burst must be counted
// in full before any guess is answered (exactly the 5 free attempts get an
// answer, the rest 429), the id and the e-mail are one account, and the
// operator logging in from another address is not locked out by it.
func TestLoginBurst(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		// The store's clock stands still: the back-off is in seconds, and
		// on a slow machine the burst could outlast the first one.
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := map[string]any{"operator_id": "op_operator", "password": "wrong guess"}
				switch i % 3 {
				case 1:
					body = map[string]any{"email": "op_operator@bank.example", "password": "wrong guess"}
				case 2:
					body = map[string]any{"operator_id": "OP_OPERATOR", "password": "wrong guess"}
				}
				status, retry := e.loginFrom("127.0.0.1", body)
				if status == http.StatusTooManyRequests && retry == "" {
					t.Error("429 without Retry-After")
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// 503 is a request past its deadline on a busy machine: it tried
		// nothing, so it is as good as a 429 here.
		if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests]+statuses[http.StatusServiceUnavailable] != 95 {
			t.Errorf("100 parallel wrong guesses by id and e-mail: %v; want 5 × 401 and 95 × 429", statuses)
		}
		if status, _ := e.loginFrom("127.0.0.1", map[string]any{"operator_id": "op_operator", "password": testPassword}); status != http.StatusTooManyRequests {
			t.Errorf("the right password from the guessing address right after the burst: %d, want 429", status)
		}
		if status, _ := e.loginFrom("127.0.0.2", map[string]any{"email": "op_operator@bank.example", "password": testPassword}); status != http.StatusOK {
			t.Errorf("the operator from another address after the burst: %d, want 200 (no lock-out)", status)
		}
	})
}

// TestLoginNeverLogsAPassword: a password typed into the id field, or sent
// as the password, never reaches the log, in any case.
func TestLoginNeverLogsAPassword(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	logs := &syncBuffer{}
	e := newEnvConfig(t, s, func(c *httpapi.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.do(http.MethodPost, "/api/auth/login", "", map[string]any{"operator_id": "Tr0ub4dor&3-Secret", "password": "x"}).must(t, http.StatusUnauthorized)
	e.do(http.MethodPost, "/api/auth/login", "", map[string]any{"operator_id": "op_admin", "password": "Tr0ub4dor&3-Other"}).must(t, http.StatusUnauthorized)
	e.do(http.MethodPost, "/api/auth/login", "", `{"operator_id": "op_admin", "password": "Tr0ub4dor&3-Malformed"`).must(t, http.StatusBadRequest)
	out := strings.ToLower(logs.String())
	if strings.Contains(out, "tr0ub4dor") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	if !strings.Contains(out, `"operator_id":"op_admin"`) {
		t.Errorf("the failed login of a real operator is not logged with its id:\n%s", logs.String())
	}
}
