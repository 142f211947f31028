// Package bench is the load benchmark behind `spendsense bench`.
//
// It builds a dataset of a given size with package seed (a SQLite file in a
// temp dir, or a fresh PostgreSQL database), creates operators and tokens,
// starts the real server as separate processes (`spendsense serve`; two of
// them sharing the database on PostgreSQL), and drives them over HTTP with
// vegeta in an open model: requests leave at a constant rate whether or not
// earlier ones have been answered, so a slow server shows as latency, not as
// a politely lower request rate. Each scenario runs for a fixed duration and
// reports offered and achieved rate, latency percentiles, errors and the
// servers' peak RSS. Read scenarios can also run closed-loop at maximum rate
// (saturation) with a fixed number of workers.
//
// Results are printed as Markdown and, on request, written into a section of
// docs/BENCHMARKS.md with a description of the machine. They are never
// assertions: benchmark machines are noisy.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Config says what to build and how hard to push it.
type Config struct {
	// Engine is "sqlite" or "postgres".
	Engine string
	// DatabaseURL, when set, is the database to use instead of a fresh one:
	// a SQLite file path, or a PostgreSQL URL. An empty database is seeded;
	// one that already holds recommendations is used as it is (a re-run).
	// Empty: a temp SQLite file, or a throwaway PostgreSQL server.
	DatabaseURL string
	// Size is the number of recommendations to seed; Users defaults to Size/10.
	Size, Users int
	// Seed fixes the generated data.
	Seed int64
	// Duration of each scenario; Warmup runs before each read scenario at
	// its rate and is not measured.
	Duration, Warmup time.Duration
	// Rate overrides every scenario's offered rate (requests/s) when > 0;
	// 0 runs every scenario at maximum rate with Workers workers; < 0 keeps
	// each scenario's own rate.
	Rate int
	// Saturation adds a maximum-rate run of every scenario but the mixed
	// one after the fixed-rate runs.
	Saturation bool
	// Workers is the number of concurrent requests of a maximum-rate run.
	Workers int
	// Scenarios to run, by name; empty for all.
	Scenarios []string
	// Servers is the number of server processes (default 1 on SQLite, 2 on
	// PostgreSQL); the load is spread across them.
	Servers int
	// Binary is the spendsense executable to run as `serve` (required: the
	// benchmark is its own command, so the server binary carries no load
	// generator).
	Binary string
	// ServerLogLevel is the servers' SPENDSENSE_LOG_LEVEL (default info).
	ServerLogLevel string
	// ServerFlags are extra `serve` flags; "{n}" in one becomes the server's
	// number (1, 2, …), e.g. --pprof=127.0.0.1:606{n}.
	ServerFlags []string
	// PGSettings are extra settings ("name=value") for a throwaway PostgreSQL.
	PGSettings []string
	// Keep leaves the dataset (and the temp dir with the server logs) behind.
	Keep bool
	// Check runs the store's invariant check on the database after the run.
	Check bool
	// Quiet, when > 0, makes each run wait (up to QuietWait) until the
	// machine's CPU has been less than this fraction busy for two seconds:
	// on a shared machine, other work would otherwise land in the figures.
	Quiet     float64
	QuietWait time.Duration
	// Log receives progress lines; Progress, when set, a seed progress bar.
	Log      io.Writer
	Progress io.Writer
}

func (c *Config) normalize() error {
	switch c.Engine {
	case "", "sqlite":
		c.Engine = "sqlite"
	case "postgres", "postgresql":
		c.Engine = "postgres"
	default:
		return fmt.Errorf("--engine must be sqlite or postgres, not %q", c.Engine)
	}
	if c.DatabaseURL != "" {
		pg := strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
		if pg != (c.Engine == "postgres") {
			return fmt.Errorf("--database-url %q is not a %s database", redact(c.DatabaseURL), c.Engine)
		}
	}
	if c.Size <= 0 {
		c.Size = 1_000_000
	}
	if c.Users <= 0 {
		c.Users = max(1, c.Size/10)
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Quiet > 0 && c.QuietWait <= 0 {
		c.QuietWait = 5 * time.Minute
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.Servers <= 0 {
		c.Servers = 1
		if c.Engine == "postgres" {
			c.Servers = 2
		}
	}
	if c.ServerLogLevel == "" {
		c.ServerLogLevel = "info"
	}
	if c.Binary == "" {
		return errors.New("no spendsense binary to run as the server")
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	for _, name := range c.Scenarios {
		if scenarioByName(name) == nil {
			return fmt.Errorf("unknown scenario %q; known: %s", name, strings.Join(scenarioNames(), ", "))
		}
	}
	return nil
}

// Report is the outcome of one run.
type Report struct {
	Config  Config
	Machine Machine
	Dataset Dataset
	Results []Result
	// PeakRSS is the largest resident set of any server process over the
	// whole run, in bytes.
	PeakRSS int64
	// Check is the invariant check's verdict ("" when not run).
	Check string
	// Load averages (/proc/loadavg) when the measured runs began and ended:
	// other work on the machine shows here.
	LoadBefore, LoadAfter string
	Started               time.Time
	Elapsed               time.Duration
}

// Run builds the dataset, starts the servers, runs the scenarios and stops
// everything again (unless Keep). Scenario results are printed to cfg.Log as
// they finish; the whole report is returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg, Started: time.Now(), Machine: describeMachine()}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, "bench: "+format+"\n", args...) }

	env, err := setup(ctx, &cfg, logf)
	if env != nil {
		defer env.close(logf)
	}
	if err != nil {
		return nil, err
	}
	rep.Dataset = env.dataset
	rep.Machine.Engine = env.engineVersion

	if err := env.startServers(ctx, logf); err != nil {
		return nil, err
	}
	rep.PeakRSS = env.peakRSS()
	if err := env.prepareCursors(ctx); err != nil {
		return nil, err
	}

	var runs []*run
	for _, sc := range selectScenarios(cfg.Scenarios) {
		switch {
		case cfg.Rate == 0 || sc.maxRate:
			runs = append(runs, &run{sc: sc, rate: 0})
		case cfg.Rate > 0:
			runs = append(runs, &run{sc: sc, rate: cfg.Rate})
		default:
			runs = append(runs, &run{sc: sc, rate: sc.rate})
		}
	}
	if cfg.Saturation && cfg.Rate != 0 {
		// Reads first: the writes change what they read.
		for _, write := range []bool{false, true} {
			for _, sc := range selectScenarios(cfg.Scenarios) {
				if sc.write == write && !sc.mixed && !sc.maxRate {
					runs = append(runs, &run{sc: sc, rate: 0})
				}
			}
		}
	}
	// Write scenarios share one pool of pending ids; give each a fair share
	// of what is left so an early maximum-rate run cannot starve the rest.
	writesLeft := 0
	for _, r := range runs {
		if r.sc.write && !r.sc.newIDs {
			writesLeft++
		}
	}
	rep.LoadBefore = loadAvg()
	logf("load average before the runs: %s", rep.LoadBefore)
	fmt.Fprintln(cfg.Log)
	fmt.Fprintln(cfg.Log, tableHeader)
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if r.sc.write && !r.sc.newIDs {
			r.budget = env.pool.remaining() / writesLeft
			writesLeft--
		}
		if cfg.Quiet > 0 {
			busy, waited := waitQuiet(ctx, cfg.Quiet, cfg.QuietWait)
			if waited > 3*time.Second {
				logf("%s: waited %s for the machine to quiet down (%.0f%% busy)", r.sc.name, waited.Round(time.Second), 100*busy)
			}
			r.busyBefore = busy
		}
		res, err := env.runScenario(ctx, r)
		if err != nil {
			return rep, fmt.Errorf("scenario %s: %w", r.sc.name, err)
		}
		rep.Results = append(rep.Results, res)
		rep.PeakRSS = max(rep.PeakRSS, res.PeakRSS)
		fmt.Fprintln(cfg.Log, res.row())
		if err := env.serversAlive(); err != nil {
			return rep, err
		}
	}
	fmt.Fprintln(cfg.Log)
	rep.LoadAfter = loadAvg()

	env.stopServers(logf)
	if cfg.Check {
		rep.Check = env.check(ctx, logf)
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep, nil
}

// run is one scenario at one offered rate (0: maximum).
type run struct {
	sc     *scenario
	rate   int
	budget int          // ids this run may take from the pending pool (writes)
	taken  atomic.Int64 // ids taken so far
	// busyBefore is the machine's CPU busy fraction just before the run
	// (measured only with Config.Quiet).
	busyBefore float64
}

// errNoIDs ends an attack whose scenario has used up its ids.
var errNoIDs = errors.New("bench: no more unused pending ids")

func redact(url string) string {
	if i := strings.Index(url, "@"); i > 0 {
		if j := strings.Index(url, "://"); j > 0 && j < i {
			return url[:j+3] + "…" + url[i:]
		}
	}
	return url
}

// Machine describes where a run happened.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemTotal  string
	Kernel    string
	GoVersion string
	Engine    string // engine and its version
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CPUModel: "unknown", MemTotal: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}
