package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProc is one `spendsense serve` process.
type serverProc struct {
	cmd  *exec.Cmd
	addr string
	log  string // path of its log file
	done chan struct{}
	err  error // its exit, once done is closed
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServers starts cfg.Servers processes on the database and waits until
// each answers /ready.
func (e *env) startServers(ctx context.Context, logf func(string, ...any)) error {
	for i := 0; i < e.cfg.Servers; i++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		logPath := filepath.Join(e.dir, fmt.Sprintf("server-%d.log", i+1))
		lf, err := os.Create(logPath)
		if err != nil {
			return err
		}
		args := []string{"serve", "--addr", addr}
		for _, f := range e.cfg.ServerFlags {
			args = append(args, strings.ReplaceAll(f, "{n}", strconv.Itoa(i+1)))
		}
		cmd := exec.Command(e.cfg.Binary, args...)
		cmd.Env = append(os.Environ(),
			"DATABASE_URL="+e.url,
			"SPENDSENSE_JWT_SECRET="+e.secret,
			"SPENDSENSE_LOG_LEVEL="+e.cfg.ServerLogLevel,
			"SPENDSENSE_DELIVERY_WEBHOOK_URL=", // deliveries go to the log sink
		)
		cmd.Stdout, cmd.Stderr = lf, lf
		// The servers must not outlive the benchmark if it is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			lf.Close()
			return fmt.Errorf("start server: %w", err)
		}
		p := &serverProc{cmd: cmd, addr: addr, log: logPath, done: make(chan struct{})}
		go func() { p.err = cmd.Wait(); lf.Close(); close(p.done) }()
		e.servers = append(e.servers, p)
		e.bases = append(e.bases, "http://"+addr)
	}
	for i, p := range e.servers {
		began := time.Now()
		if err := p.waitReady(ctx, 5*time.Minute); err != nil {
			return err
		}
		logf("server %d (pid %d) ready on %s in %s", i+1, p.cmd.Process.Pid, p.addr, time.Since(began).Round(time.Millisecond))
	}
	return nil
}

func (p *serverProc) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("server on %s exited during start-up (%v); log:\n%s", p.addr, p.err, tailFile(p.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		res, err := http.Get("http://" + p.addr + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("server on %s not ready after %s; log:\n%s", p.addr, within, tailFile(p.log))
}

// serversAlive fails when a server has died during the run.
func (e *env) serversAlive() error {
	for _, p := range e.servers {
		select {
		case <-p.done:
			return fmt.Errorf("server on %s died (%v); log:\n%s", p.addr, p.err, tailFile(p.log))
		default:
		}
	}
	return nil
}

// stopServers sends SIGTERM (a graceful shutdown) and waits.
func (e *env) stopServers(logf func(string, ...any)) {
	for _, p := range e.servers {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			logf("server on %s did not stop within 30s of SIGTERM; killing it", p.addr)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	e.servers = nil
}

// resetPeakRSS starts a new peak-RSS window for every server: writing 5 to
// /proc/<pid>/clear_refs resets VmHWM to the current RSS.
func (e *env) resetPeakRSS() {
	for _, p := range e.servers {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
	}
}

// peakRSS is the largest VmHWM (peak resident set) of the servers, in bytes.
func (e *env) peakRSS() int64 {
	var peak int64
	for _, p := range e.servers {
		peak = max(peak, procStatusKB(p.cmd.Process.Pid, "VmHWM")*1024)
	}
	return peak
}

func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// tailFile returns the end of a log file, for error messages.
func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// setupClient is for the few requests made before the measured runs.
var setupClient = &http.Client{Timeout: time.Minute}

func (e *env) get(ctx context.Context, path, token string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.bases[0]+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := setupClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %s", path, res.Status, b)
	}
	return res, b, nil
}

// listVariants are the filters of the list scenarios (status is pending,
// the default): each persona, priority and type alone, and combinations.
var listVariants = []string{
	"persona=high_utilization", "persona=variable_income_budgeter", "persona=subscription_heavy",
	"persona=savings_builder", "persona=student",
	"priority=high", "priority=medium", "priority=low",
	"type=article", "type=video", "type=tool", "type=quiz", "type=partner_offer",
	"persona=student&priority=high", "persona=high_utilization&type=tool",
	"priority=low&type=quiz", "persona=savings_builder&priority=medium&type=article",
}

// deepVariants are the lists whose deep pages the deep-cursor scenario reads.
var deepVariants = []string{"", "persona=student", "priority=high", "type=video", "persona=high_utilization&priority=medium"}

// deepPages is how far in the deep-cursor scenario reads.
const deepPages = 50

// prepareCursors follows each deep variant ~50 pages in and keeps the
// cursor (fewer when the list is shorter).
func (e *env) prepareCursors(ctx context.Context) error {
	for _, v := range deepVariants {
		var cursor string
		pages := 0
		for pages < deepPages {
			q := url.Values{}
			if v != "" {
				var err error
				if q, err = url.ParseQuery(v); err != nil {
					return err
				}
			}
			q.Set("limit", "100")
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			res, body, err := e.get(ctx, "/api/operator/recommendations?"+q.Encode(), e.opTokens[0])
			if err != nil {
				return fmt.Errorf("deep cursor: %w", err)
			}
			var page []json.RawMessage
			if err := json.Unmarshal(body, &page); err != nil {
				return fmt.Errorf("deep cursor: %w", err)
			}
			next := res.Header.Get("X-Next-Cursor")
			if next == "" {
				break
			}
			cursor = next
			pages++
		}
		if cursor != "" {
			e.deep = append(e.deep, deepCursor{query: v, cursor: cursor, pages: pages})
		}
	}
	if len(e.deep) == 0 {
		e.deep = []deepCursor{{}} // a tiny dataset: the first page will do
	}
	return nil
}
