package bench

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Result is one scenario run.
type Result struct {
	Scenario string
	Desc     string
	Offered  int // requests/s; 0 means maximum rate
	Workers  int // concurrent requests of a maximum-rate run
	Stats
	// Items per request and how they fared (bulk approve, ingest).
	Items                 int
	ItemsOK, ItemsFailed  int64
	RanOut                bool   // the run used up its pending ids before its time was up
	PeakRSS               int64  // bytes, largest VmHWM of the servers during the run
	FirstError            string // an example error body, for the log
	Reads, Actions        *Stats // mixed workload: each side alone
	IDsTaken, IDsBudgeted int64
	// BusyBefore is the machine's CPU busy fraction in the second before
	// the run (with --quiet), other processes' work.
	BusyBefore float64
	// Live streams held open during the run (streams-1000): how many, the
	// events they received, commit-to-client latency, streams dropped
	// before the end, and the first server's memory per stream.
	Streams                         int
	StreamEvents, StreamsDropped    int64
	StreamP50, StreamP99, StreamMax time.Duration
	StreamMemPerStream              int64
}

// Stats are the latency and throughput of a set of requests.
type Stats struct {
	Requests      uint64
	Duration      time.Duration // first to last request sent
	Sent, OK      float64       // requests/s sent; 2xx answers/s
	P50, P95, P99 time.Duration
	Max           time.Duration
	Errors        int            // non-2xx answers and transport errors
	ErrorsByKind  map[string]int // "409", "transport", …
	metrics       *vegeta.Metrics
}

func newStats() *Stats {
	return &Stats{metrics: &vegeta.Metrics{}, ErrorsByKind: map[string]int{}}
}

func (s *Stats) add(r *vegeta.Result) {
	s.metrics.Add(r)
	if r.Code < 200 || r.Code >= 300 {
		s.Errors++
		kind := strconv.Itoa(int(r.Code))
		if r.Code == 0 {
			kind = "transport"
		}
		s.ErrorsByKind[kind]++
	}
}

func (s *Stats) close() {
	m := s.metrics
	m.Close()
	s.Requests, s.Duration, s.Sent, s.OK = m.Requests, m.Duration, m.Rate, m.Throughput
	s.P50, s.P95, s.P99, s.Max = m.Latencies.P50, m.Latencies.P95, m.Latencies.P99, m.Latencies.Max
	s.metrics = nil
}

var (
	bulkRe   = regexp.MustCompile(`"approved":(\d+),"failed":(\d+)`)
	ingestRe = regexp.MustCompile(`"created":(\d+),"unchanged":(\d+),"conflicts":\[(\])?`)
)

// maxInFlight bounds the requests in flight of a fixed-rate run.
const maxInFlight = 4096

// runScenario runs one scenario: a warm-up (reads only, not measured), then
// the measured attack.
func (e *env) runScenario(ctx context.Context, r *run) (Result, error) {
	sc := r.sc
	res := Result{Scenario: sc.name, Desc: sc.desc, Offered: r.rate, Items: sc.items, IDsBudgeted: int64(r.budget), BusyBefore: r.busyBefore}
	workers := e.cfg.Workers
	if sc.maxWorkers > 0 {
		workers = min(workers, sc.maxWorkers)
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(30 * time.Second),
		vegeta.KeepAlive(true),
		vegeta.MaxBody(1024), // enough for a bulk or ingest summary or an error; the rest is drained unread
		vegeta.Redirects(vegeta.NoFollow),
	}
	pacer := vegeta.ConstantPacer{Freq: r.rate, Per: time.Second}
	if r.rate > 0 {
		// Open model: a worker per request in flight, up to a bound that
		// keeps the generator within its file descriptors when the server
		// falls far behind; then achieved < offered shows it.
		opts = append(opts, vegeta.MaxWorkers(maxInFlight))
	}
	if r.rate == 0 {
		res.Workers = workers
		opts = append(opts, vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)))
		pacer = vegeta.ConstantPacer{} // as fast as the workers go
	}
	var seq atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		n := seq.Add(1) - 1
		return sc.gen(e, r, n, t)
	}

	if !sc.write && e.cfg.Warmup > 0 {
		for range vegeta.NewAttacker(opts...).Attack(targeter, pacer, e.cfg.Warmup, sc.name+"-warmup") {
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}

	var probe *streamProbe
	if sc.streams > 0 {
		var err error
		if probe, err = e.openStreams(ctx, sc.streams); err != nil {
			return res, err
		}
		defer probe.close()
	}
	e.resetPeakRSS()
	all := newStats()
	var reads, actions *Stats
	if sc.mixed {
		reads, actions = newStats(), newStats()
	}
	atk := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for vr := range atk.Attack(targeter, pacer, e.cfg.Duration, sc.name) {
		if vr.Error == errNoIDs.Error() {
			res.RanOut = true
			continue
		}
		all.add(vr)
		if sc.mixed {
			if vr.Method == "GET" {
				reads.add(vr)
			} else {
				actions.add(vr)
			}
		}
		if (vr.Code < 200 || vr.Code >= 300) && res.FirstError == "" {
			res.FirstError = fmt.Sprintf("%s %s → %d %s %s", vr.Method, vr.URL, vr.Code, vr.Error, truncate(string(vr.Body), 300))
		}
		if vr.Code == 200 && sc.items > 0 {
			if sc.newIDs {
				if m := ingestRe.FindSubmatch(vr.Body); m != nil {
					created, _ := strconv.Atoi(string(m[1]))
					res.ItemsOK += int64(created)
					res.ItemsFailed += int64(sc.items - created)
				}
			} else if m := bulkRe.FindSubmatch(vr.Body); m != nil {
				ok, _ := strconv.Atoi(string(m[1]))
				failed, _ := strconv.Atoi(string(m[2]))
				res.ItemsOK += int64(ok)
				res.ItemsFailed += int64(failed)
			}
		}
	}
	all.close()
	res.Stats = *all
	if sc.mixed {
		reads.close()
		actions.close()
		res.Reads, res.Actions = reads, actions
	}
	res.PeakRSS = e.peakRSS()
	if probe != nil {
		// The last events of the run are still on their way.
		time.Sleep(2 * time.Second)
		res.Streams, res.StreamEvents, res.StreamsDropped = probe.n, probe.events.Load(), probe.ended.Load()
		res.StreamP50, res.StreamP99, res.StreamMax = probe.quantile(0.50), probe.quantile(0.99), probe.max()
		res.StreamMemPerStream = probe.memPerStream
	}
	res.IDsTaken = min(r.taken.Load(), int64(r.budget))
	if res.FirstError != "" {
		fmt.Fprintf(e.cfg.Log, "bench: %s: first error: %s\n", sc.name, res.FirstError)
	}
	// Let the servers settle (WAL checkpoints, connection churn) between runs.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	return res, ctx.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Formatting.

const tableHeader = "| scenario | offered | achieved | 2xx/s | p50 | p95 | p99 | max | errors | server peak RSS | notes |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"

func (r Result) offered() string {
	if r.Offered == 0 {
		return fmt.Sprintf("max (%d workers)", r.Workers)
	}
	return fmt.Sprintf("%s/s", num(float64(r.Offered)))
}

func (r Result) row() string {
	if r.Requests == 0 {
		// Nothing was measured: say why instead of a row of zeros that
		// reads like a result.
		why := "skipped: no request was sent"
		if r.RanOut && r.Items > 0 {
			why = fmt.Sprintf("skipped: one request takes %s pending ids and this run's share was %s (use a larger --size)",
				num(float64(r.Items)), num(float64(r.IDsBudgeted)))
		}
		return fmt.Sprintf("| %s | %s | – | – | – | – | – | – | – | – | %s |", r.Scenario, r.offered(), why)
	}
	return fmt.Sprintf("| %s | %s | %s/s | %s/s | %s | %s | %s | %s | %s | %s | %s |",
		r.Scenario, r.offered(), num(r.Sent), num(r.OK), ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max),
		r.errors(), mib(r.PeakRSS), r.notes())
}

func (s Stats) errors() string {
	if s.Errors == 0 {
		return "0"
	}
	var kinds []string
	for k := range s.ErrorsByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s×%d", k, s.ErrorsByKind[k]))
	}
	return fmt.Sprintf("%d (%s)", s.Errors, strings.Join(parts, ", "))
}

func (r Result) notes() string {
	var notes []string
	if r.Items > 0 && r.Duration > 0 {
		what := "approvals"
		if strings.HasPrefix(r.Scenario, "ingest") {
			what = "recommendations"
		}
		secs := (r.Duration + r.P50).Seconds()
		n := fmt.Sprintf("%s %s/s", num(float64(r.ItemsOK)/secs), what)
		if r.ItemsFailed > 0 {
			n += fmt.Sprintf(", %d items not applied", r.ItemsFailed)
		}
		notes = append(notes, n)
	}
	if r.BusyBefore >= 0.25 {
		notes = append(notes, fmt.Sprintf("machine %.0f%% busy at the start", 100*r.BusyBefore))
	}
	if r.RanOut {
		notes = append(notes, fmt.Sprintf("used its %s pending ids after %.1f s", num(float64(r.IDsBudgeted)), r.Duration.Seconds()))
	}
	if r.Streams > 0 {
		notes = append(notes, fmt.Sprintf("%s streams received %s events, commit→client p50 %s p99 %s max %s; %s KiB per stream; %d dropped",
			num(float64(r.Streams)), num(float64(r.StreamEvents)), ms(r.StreamP50), ms(r.StreamP99), ms(r.StreamMax),
			num(float64(r.StreamMemPerStream)/1024), r.StreamsDropped))
	}
	if r.Reads != nil && r.Actions != nil {
		notes = append(notes, fmt.Sprintf("reads %s/s p99 %s; actions %s/s p99 %s",
			num(r.Reads.Sent), ms(r.Reads.P99), num(r.Actions.Sent), ms(r.Actions.P99)))
	}
	return strings.Join(notes, "; ")
}

// num formats with thousands separators: 12,345 or 12.3 below 100.
func num(f float64) string {
	if f < 100 && f != float64(int64(f)) {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ms(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}
