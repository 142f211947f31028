package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb/pgserver"
)

// outageLoad drives a server while its database fails: workers approve one
// recommendation each at a time (with an Idempotency-Key, as a real client
// retrying safely would), list the queue, and ingest small batches. Every
// answer is tallied under the phase in which it arrived, and every approval
// acknowledged with 200 is remembered, to be found in the database after.
type outageLoad struct {
	base, op, ing string
	ids           []string
	next          atomic.Int64
	phase         atomic.Value // string
	tally         counter      // "phase status" → answers
	noRetryAfter  atomic.Int64 // 503s without Retry-After
	acked         sync.Map     // id → true
	oks           atomic.Int64 // approvals and ingests answered 200
	stop          chan struct{}
	stopOnce      sync.Once
	wg            sync.WaitGroup
}

var outageClient = &http.Client{Timeout: 60 * time.Second}

func startOutageLoad(base, op, ing string, ids []string, workers int) *outageLoad {
	l := &outageLoad{base: base, op: op, ing: ing, ids: ids, stop: make(chan struct{})}
	l.setPhase("up")
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				switch {
				case w == 0 && n%2 == 1:
					l.send(http.MethodGet, "/api/operator/recommendations?limit=20", l.op, nil, "")
				case w == 1 && n%4 == 3:
					l.ingest(w, n)
				default:
					i := int(l.next.Add(1)) - 1
					if i >= len(l.ids) {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					id := l.ids[i]
					// Retry the same approval (same key) until it has an
					// answer that is not 503: that is what Retry-After asks.
					for {
						status := l.send(http.MethodPost, "/api/operator/recommendations/"+id+"/approve", l.op, []byte(`{}`), "outage-"+id)
						if status == http.StatusOK {
							l.acked.Store(id, true)
						}
						if status != http.StatusServiceUnavailable && status != 0 && status != statusInProgress {
							break
						}
						select {
						case <-l.stop:
							return
						case <-time.After(100 * time.Millisecond):
						}
					}
				}
			}
		}(w)
	}
	return l
}

func (l *outageLoad) setPhase(p string) { l.phase.Store(p) }

func (l *outageLoad) ingest(w, n int) {
	batch := make([]map[string]any, 20)
	for i := range batch {
		batch[i] = map[string]any{"id": fmt.Sprintf("outage_w%d_%d_%d", w, n, i), "user_id": "user_1", "persona_primary": "student",
			"type": "article", "title": "t", "rationale": "r", "priority": "low", "generated_at": "2026-11-01T00:00:00Z",
			"guardrails_passed": map[string]any{"tone_check": true, "advice_check": true, "eligibility_check": true}}
	}
	b, _ := json.Marshal(map[string]any{"recommendations": batch})
	l.send(http.MethodPost, "/api/ingest/recommendations", l.ing, b, "")
}

// send makes one request and tallies its answer; 0 means no answer.
func (l *outageLoad) send(method, path, token string, body []byte, key string) int {
	req, _ := http.NewRequest(method, l.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := outageClient.Do(req)
	phase := l.phase.Load().(string)
	if err != nil {
		l.tally.add(phase+" error", 1)
		time.Sleep(50 * time.Millisecond) // the server is not answering at all
		return 0
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusConflict && key != "" && bytes.Contains(answer, []byte("still in progress")) {
		// The key's first attempt claimed it and never finished (the
		// database went away under it): retry once the claim's lease is
		// over, as Retry-After says.
		l.tally.add(phase+" 409-in-progress", 1)
		time.Sleep(time.Second)
		return statusInProgress
	}
	l.tally.add(fmt.Sprintf("%s %d", phase, res.StatusCode), 1)
	if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
		l.noRetryAfter.Add(1)
	}
	if res.StatusCode == http.StatusOK && method == http.MethodPost {
		l.oks.Add(1)
	}
	return res.StatusCode
}

// waitOK waits for the next write answered 200 and returns how long it
// took from since.
func (l *outageLoad) waitOK(t *testing.T, since time.Time) time.Duration {
	t.Helper()
	n := l.oks.Load()
	for deadline := time.Now().Add(2 * time.Minute); l.oks.Load() == n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded within 2 minutes of the database's return; answers: %s", l.report())
		}
	}
	return time.Since(since)
}

// finish stops the workers and waits for them; calling it again is a no-op.
func (l *outageLoad) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func openStore(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// report renders the tally, phase by phase.
func (l *outageLoad) report() string {
	l.tally.mu.Lock()
	defer l.tally.mu.Unlock()
	keys := make([]string, 0, len(l.tally.m))
	for k := range l.tally.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, l.tally.m[k])
	}
	return b.String()
}

// statusInProgress stands for a 409 saying the key's first attempt still
// holds it.
const statusInProgress = -409

// check fails the test on any 5xx but 503, any 503 without Retry-After, any
// 409 but "still in progress" (each item is approved by one worker only,
// with its own key, so any other conflict is a retry that was not given the
// first response), and any approval acknowledged with 200 that the
// database does not hold.
func (l *outageLoad) check(t *testing.T, dbURL string) {
	t.Helper()
	l.tally.mu.Lock()
	for k, n := range l.tally.m {
		if f := strings.Fields(k); f[1] >= "500" && f[1] != "503" && f[1] != "error" {
			t.Errorf("%d answers %q: database trouble must be 503, never another 5xx", n, k)
		}
		if f := strings.Fields(k); f[1] == "409" {
			t.Errorf("%d answers %q: a retry with its Idempotency-Key must get the first response", n, k)
		}
	}
	l.tally.mu.Unlock()
	if n := l.noRetryAfter.Load(); n > 0 {
		t.Errorf("%d answers 503 without Retry-After", n)
	}
	lost, acked := 0, 0
	s := openStore(t, dbURL)
	defer s.Close()
	l.acked.Range(func(k, _ any) bool {
		acked++
		rec, err := s.GetRecommendation(t.Context(), k.(string))
		if err != nil || rec.Status != review.StatusApproved {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Errorf("%d of %d acknowledged approvals are not approved in the database", lost, acked)
	}
	t.Logf("acknowledged approvals: %d, lost: %d", acked, lost)
	checkInvariants(t, dbURL)
}

// TestPostgresStoppedAndFrozenMidLoad stops PostgreSQL under a running
// server (immediate shutdown, like a crash), starts it again, then freezes
// it (SIGSTOP: connections open, nothing answers) and thaws it. While the
// database is gone every request must be answered 503 with Retry-After
// (never 500), while it is frozen within the request timeout (never hanging
// for the whole freeze), and afterwards the service must recover by itself,
// with every acknowledged approval in the database and `spendsense check`
// passing.
func TestPostgresStoppedAndFrozenMidLoad(t *testing.T) {
	if !pgserver.Available() {
		if os.Getenv("SPENDSENSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("PostgreSQL server binaries are missing")
		}
		t.Skip("*** PostgreSQL server binaries missing: the outage test is SKIPPED ***")
	}
	// Durable, unlike the other tests' server: acknowledged writes must
	// survive its crash.
	pg, err := pgserver.Start("fsync=on", "synchronous_commit=on", "full_page_writes=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dbURL := pg.URL("postgres")
	ids, tokens := seedDB(t, dbURL, 3000)
	const timeout = 2 * time.Second
	srv := startServerArgs(t, dbURL, []string{"--request-timeout", timeout.String()})
	l := startOutageLoad(srv.url, tokens[review.RoleOperator], tokens[review.RoleIngest], ids, 6)
	defer l.finish()
	time.Sleep(time.Second)

	l.setPhase("stopped")
	pg.Kill()
	time.Sleep(4 * time.Second)
	l.setPhase("restarting")
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	l.setPhase("recovering")
	recovered := l.waitOK(t, back)
	l.setPhase("up-again")
	time.Sleep(time.Second)

	l.setPhase("frozen")
	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3*timeout + time.Second)
	l.setPhase("thawed")
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	thawRecovered := l.waitOK(t, thawed)
	time.Sleep(time.Second)
	l.finish()

	t.Logf("answers by phase: %s", l.report())
	t.Logf("first approval after PostgreSQL restarted: %v; after it was thawed: %v", recovered.Round(time.Millisecond), thawRecovered.Round(time.Millisecond))
	if l.tally.get("stopped 503") == 0 {
		t.Errorf("no request was answered 503 while PostgreSQL was down")
	}
	if l.tally.get("frozen 503") == 0 {
		t.Errorf("no request was answered while PostgreSQL was frozen: requests hang with the database")
	}
	srv.stop()
	l.check(t, dbURL)
	riverWarn, riverErrors := riverOutageLines(srv.logs.String())
	t.Logf("River's lines during the outage: %d at WARN (database unavailable), %d at ERROR", riverWarn, len(riverErrors))
	if riverWarn == 0 || len(riverErrors) > 0 {
		t.Errorf("River's outage lines should be WARN: %d WARN, ERROR:\n%s", riverWarn, strings.Join(riverErrors, "\n"))
	}
	if t.Failed() {
		t.Logf("server errors:\n%s", errorLines(srv.logs.String()))
	}
}

// riverOutageLines counts River's lines written at WARN as database trouble
// and returns those it wrote at ERROR.
func riverOutageLines(logs string) (warn int, errs []string) {
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `"component":"river"`) {
			continue
		}
		switch {
		case strings.Contains(l, `"level":"ERROR"`):
			errs = append(errs, l)
		case strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, `"database_unavailable":true`):
			warn++
		}
	}
	return warn, errs
}

// errorLines returns the log lines at level ERROR.
func errorLines(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSQLiteDiskFull fills the file system under a running SQLite server
// (a small tmpfs of its own): writes must be answered 503 with Retry-After,
// never 500, reads go on, and once space is freed writes succeed again with
// every acknowledged approval kept. Needs root to mount the tmpfs; skipped
// loudly otherwise.
func TestSQLiteDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("*** cannot mount a tmpfs here (%v: %s): the disk-full test is SKIPPED ***", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	dbURL := filepath.Join(dir, "spendsense.db")
	ids, tokens := seedDB(t, dbURL, 3000)
	srv := startServer(t, dbURL)
	l := startOutageLoad(srv.url, tokens[review.RoleOperator], tokens[review.RoleIngest], ids, 6)
	defer l.finish()
	time.Sleep(time.Second)

	l.setPhase("full")
	// Empty the WAL first: SQLite reuses a WAL file's space (up to
	// journal_size_limit), so writes into it would not notice the full
	// disk for a while.
	truncateWAL(t, dbURL)
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)
	time.Sleep(3 * time.Second)
	reads := call(srv.url, http.MethodGet, "/api/operator/recommendations?limit=5", tokens[review.RoleOperator], nil)
	l.setPhase("freed")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	recovered := l.waitOK(t, freed)
	time.Sleep(time.Second)
	l.finish()

	t.Logf("answers by phase: %s", l.report())
	t.Logf("first approval after space was freed: %v", recovered.Round(time.Millisecond))
	if reads.status != http.StatusOK {
		t.Errorf("a read on a full disk: %d, want 200", reads.status)
	}
	if l.tally.get("full 503") == 0 {
		t.Errorf("no write was answered 503 while the disk was full")
	}
	srv.stop()
	l.check(t, dbURL)
}

// fillDisk writes to path until the file system has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// truncateWAL checkpoints the SQLite WAL of the database at path and
// empties its file, from a connection of the test's own, retrying while
// the server's readers hold it.
func truncateWAL(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for attempt := 0; attempt < 20; attempt++ {
		var busy, logPages, done int
		if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Log("the WAL could not be emptied; the disk-full phase may see few failures")
}
