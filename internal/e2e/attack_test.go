package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/testdb"
)

// These are the attacks of the black-box probe (issue 13), run against real
// `serve` processes: each must leave the service answering.

// rssPeak is the server process's peak resident memory (VmHWM), in bytes.
func (s *server) rssPeak(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// slowClient waits as long as a -race server on a busy machine may take to
// compare a hundred passwords; the tests using it count answers, not time.
var slowClient = &http.Client{Timeout: 3 * time.Minute}

// login posts a login and returns its status.
func login(base, id, password string) int {
	b, _ := json.Marshal(map[string]string{"operator_id": id, "password": password})
	res, err := slowClient.Post(base+"/api/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// TestSlowClientsHoldNothing opens hundreds of connections that send their
// headers, or their bodies, a byte at a time (far more than the server's
// write slots: 16 here), without a token for the logins: logins and
// actions from everyone else must still be answered at once.
func TestSlowClientsHoldNothing(t *testing.T) {
	dbURL := testdb.URL(t, testdb.Engines()[0])
	ids, tokens := seedDB(t, dbURL, 10)
	srv := startServerArgs(t, dbURL, []string{"--max-inflight-writes", "16", "--max-inflight-bulk", "4"})
	addr := strings.TrimPrefix(srv.url, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func(first string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, first)
	}
	for i := 0; i < 150; i++ {
		// A body promised and never sent, without a token.
		open("POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	}
	for i := 0; i < 40; i++ {
		// The same with a token, on the bulk operations.
		open("POST /api/operator/recommendations/bulk-approve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokens[review.RoleOperator] +
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	}
	for i := 0; i < 100; i++ {
		// Headers that never end.
		open("POST /api/auth/login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	time.Sleep(200 * time.Millisecond) // let the server read what has come
	if got := login(srv.url, "e2e_operator", "e2e password"); got != http.StatusOK {
		t.Errorf("login beside %d slow clients: %d, want 200", len(conns), got)
	}
	if r := call(srv.url, "POST", "/api/operator/recommendations/"+ids[0]+"/approve", tokens[review.RoleOperator], map[string]any{}); r.status != http.StatusOK {
		t.Errorf("approval beside slow clients: %d, want 200", r.status)
	}
	if r := call(srv.url, "POST", "/api/operator/recommendations/bulk-approve", tokens[review.RoleOperator],
		map[string]any{"recommendation_ids": []string{ids[1]}}); r.status != http.StatusOK {
		t.Errorf("bulk approval beside slow clients: %d, want 200", r.status)
	}
}

// TestMethodFloodAndMetricsAddr floods a server with made-up methods and
// checks that /metrics, served on its own address, gained no series for
// them; the API's port has no /metrics then.
func TestMethodFloodAndMetricsAddr(t *testing.T) {
	dbURL := testdb.URL(t, testdb.Engines()[0])
	seedDB(t, dbURL, 1)
	metricsAddr := freeAddr(t)
	srv := startServerArgs(t, dbURL, []string{"--metrics-addr", metricsAddr})
	for i := 0; i < 1000; i++ {
		req, _ := http.NewRequest(fmt.Sprintf("M%d", i), srv.url+"/health", nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
		}
	}
	res, err := client.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the API's port with --metrics-addr: %d, want 404", res.StatusCode)
	}
	res, err = client.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on --metrics-addr: %d", res.StatusCode)
	}
	series := 0
	for _, line := range strings.Split(string(page), "\n") {
		if strings.HasPrefix(line, "spendsense_http_requests_total{") {
			series++
		}
	}
	if series > 5 || strings.Contains(string(page), `method="M7"`) {
		t.Errorf("1,000 made-up methods left %d request series", series)
	}
}

// TestMemoryAmplification sends 64 bodies of 1 MiB made of tiny JSON values
// at once (each cost ~28 MiB decoded, 1.85 GiB for 64): they must be
// refused with 422 without echoing the body, and the server's peak memory
// must grow by far less than their decoded size.
func TestMemoryAmplification(t *testing.T) {
	dbURL := testdb.URL(t, testdb.Engines()[0])
	ids, tokens := seedDB(t, dbURL, 1)
	srv := startServer(t, dbURL)
	before := srv.rssPeak(t)
	body := []byte(`{"notes":[` + strings.Repeat("0,", 512*1024-8) + `0]}`)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", srv.url+"/api/operator/recommendations/"+ids[0]+"/approve", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tokens[review.RoleOperator])
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			// 503 is the server at its limits (a busy test machine), also fine.
			if (res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusServiceUnavailable) || len(b) > 2048 {
				bad.Add(1)
				t.Errorf("amplifying body: %d with %d bytes of answer", res.StatusCode, len(b))
			}
		}()
	}
	wg.Wait()
	growth := srv.rssPeak(t) - before
	t.Logf("peak memory: %d MiB before, +%d MiB under 64 × 1 MiB amplifying bodies (race-instrumented binary)", before>>20, growth>>20)
	if growth > 768<<20 {
		t.Errorf("64 amplifying bodies grew the server's peak memory by %d MiB", growth>>20)
	}
}

// TestLoginBurstAcrossServers sends 100 wrong passwords for one operator at
// once, half to each of two servers sharing one PostgreSQL, by id and by
// e-mail: no answer may be a 5xx, exactly the free attempts are answered
// 401 and the rest 429, and the operator still logs in from elsewhere.
func TestLoginBurstAcrossServers(t *testing.T) {
	engine := testdb.Engines()[len(testdb.Engines())-1] // PostgreSQL when there is one
	dbURL := testdb.URL(t, engine)
	seedDB(t, dbURL, 1)
	a, b := startServer(t, dbURL), startServer(t, dbURL)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	began := time.Now()
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a.url
			if i%2 == 1 {
				base = b.url
			}
			id := "e2e_operator"
			if i%4 >= 2 {
				id = "E2E_OPERATOR"
			}
			got := login(base, id, "wrong guess")
			mu.Lock()
			statuses[got]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(began)
	t.Logf("%s: 100 parallel wrong guesses over two servers in %v: %v", engine, took.Round(time.Millisecond), statuses)
	for code, n := range statuses {
		// 503: a server past its request deadline on a busy machine, which
		// tried nothing; never a 500 from two servers racing.
		if (code >= 500 && code != http.StatusServiceUnavailable) || code == 0 {
			t.Errorf("%d answers %d", n, code)
		}
	}
	// Five free attempts, then one more each time the wait (1 s, 2 s, 4 s
	// …) has passed during the burst: on a slow machine it lasts seconds.
	most := 5 + bits.Len(uint(took/time.Second))
	if n := statuses[http.StatusUnauthorized]; n < 1 || n > most {
		t.Errorf("%d guesses were tried in %v, want at most %d", n, took, most)
	}
	// The operator, from another address, is not locked out.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	other := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
	res, err := other.Post(b.url+"/api/auth/login", "application/json", strings.NewReader(`{"operator_id":"e2e_operator","password":"e2e password"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the operator from another address after the burst: %d, want 200", res.StatusCode)
	}
}

// TestTokenTTLIsBounded: the token command refuses a lifetime past the
// maximum instead of printing a ten-year credential.
func TestTokenTTLIsBounded(t *testing.T) {
	dbURL := testdb.URL(t, testdb.Engines()[0])
	seedDB(t, dbURL, 1)
	cmd := exec.Command(binary, "token", "--operator", "e2e_admin", "--ttl", "87600h")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "SPENDSENSE_JWT_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("token --ttl 87600h succeeded: %s", out)
	}
	cmd = exec.Command(binary, "token", "--operator", "e2e_admin", "--ttl", "1h")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "SPENDSENSE_JWT_SECRET="+secret)
	if out, err := cmd.Output(); err != nil || strings.Count(strings.TrimSpace(string(out)), ".") != 2 {
		t.Fatalf("token --ttl 1h: %v %s", err, out)
	}
}

// TestWALUnderSustainedWrites approves without pause through a real SQLite
// server, with readers beside, and samples the WAL file: it must stay in the
// tens of MiB (it grew past 400 MiB in 28 s and stayed there).
func TestWALUnderSustainedWrites(t *testing.T) {
	dir := t.TempDir()
	dbURL := filepath.Join(dir, "spendsense.db")
	n, run := 6000, 8*time.Second
	if long() {
		n, run = 30000, 60*time.Second
	}
	ids, tokens := seedDB(t, dbURL, n)
	srv := startServer(t, dbURL)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w < 2 {
					callList(srv.url, "/api/operator/recommendations?status=all&limit=200", tokens[review.RoleOperator])
					continue
				}
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				call(srv.url, "POST", "/api/operator/recommendations/"+ids[i]+"/approve", tokens[review.RoleOperator], map[string]any{"notes": strings.Repeat("n", 1500)})
			}
		}()
	}
	var peak int64
	for end := time.Now().Add(run); time.Now().Before(end) && next.Load() < int64(len(ids)); time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(dbURL + "-wal"); err == nil && fi.Size() > peak {
			peak = fi.Size()
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("WAL peak after %d approvals: %.1f MiB", next.Load(), float64(peak)/(1<<20))
	if peak > 64<<20 {
		t.Errorf("the WAL reached %.1f MiB; want tens of MiB at most", float64(peak)/(1<<20))
	}
}
