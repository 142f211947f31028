// Command spendsense-bench is the load benchmark of the SpendSense
// Operator API. It is a command of its own, not a subcommand of spendsense,
// so that the server binary does not carry the load generator (vegeta).
//
//	go run ./cmd/spendsense-bench --size 100000 --duration 5s
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spendsense/operator-api/internal/bench"
)

func main() {
	// SIGHUP too (a closed terminal): the benchmark must stop its servers
	// and remove its temp folder whichever way it is told to stop.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	cmd := benchCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "spendsense-bench:", err)
		os.Exit(1)
	}
}

func benchCmd() *cobra.Command {
	var cfg bench.Config
	var out string
	var scenarios string
	var databaseURL string
	cmd := &cobra.Command{
		Use:   "spendsense-bench",
		Short: "Load benchmark: seed a dataset, start real servers, drive them over HTTP and report latency and throughput",
		Long: `spendsense-bench builds a dataset with the seed generator (default 1,000,000
recommendations for 100,000 users) in a temp SQLite file or a fresh
PostgreSQL database, starts real 'spendsense serve' processes on it (two on
PostgreSQL, sharing the database), and drives them over HTTP with vegeta at a
constant offered rate (open model) for a fixed duration per scenario. It
prints a Markdown table per kind of run — offered and achieved rate, p50,
p95, p99 and max latency, errors and the servers' peak RSS — and with --out
writes it, with a description of the machine, into that file.

--rate 0 runs every scenario at maximum rate with --workers concurrent
requests (bulk and ingest with at most 4 and 2); --saturation (default on)
adds such a run of every scenario but the mixed one after the fixed-rate
runs.

The servers are the spendsense binary named by --server; without it, one is
built from this module's source (go build ./cmd/spendsense) into the temp
folder, so a run always measures the code beside it.

The database is a fresh one unless --database-url names one explicitly (the
DATABASE_URL variable is deliberately ignored: the benchmark approves and
rejects thousands of items). An empty database there is seeded; one with
recommendations is used as it is, which makes re-runs on a kept dataset
(--keep) quick. With --engine postgres and no --database-url a throwaway
PostgreSQL is started from the server binaries found on PATH, by
pg_config --bindir or in /usr/lib/postgresql/*/bin.

Scenarios: ` + strings.Join(bench.ScenarioNames(), ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DatabaseURL = databaseURL
			if cfg.Binary == "" {
				bin, cleanup, err := buildServer(cmd)
				if err != nil {
					return err
				}
				defer cleanup()
				cfg.Binary = bin
			}
			if scenarios != "" {
				for _, s := range strings.Split(scenarios, ",") {
					if s = strings.TrimSpace(s); s != "" {
						cfg.Scenarios = append(cfg.Scenarios, s)
					}
				}
			}
			cfg.Log = cmd.ErrOrStderr()
			if term.IsTerminal(int(os.Stderr.Fd())) {
				cfg.Progress = os.Stderr
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			line := commandLine()
			fmt.Fprint(cmd.OutOrStdout(), rep.Markdown(line))
			if out != "" {
				if err := rep.WriteSection(out, line); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "bench: results written to %s\n", out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Binary, "server", "", "the spendsense binary to run as the servers (default: build ./cmd/spendsense from this module)")
	f.StringVar(&databaseURL, "database-url", "", "use this database (a SQLite file or postgres:// URL) instead of a fresh one; DATABASE_URL is ignored")
	f.StringVar(&cfg.Engine, "engine", "sqlite", "sqlite or postgres")
	f.IntVar(&cfg.Size, "size", 1_000_000, "recommendations to seed")
	f.IntVar(&cfg.Users, "users", 0, "users to seed (default size/10)")
	f.Int64Var(&cfg.Seed, "seed", 1, "random seed of the dataset")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "duration of each scenario run")
	f.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before each read scenario")
	f.IntVar(&cfg.Rate, "rate", -1, "offered requests/s for every scenario; 0 = maximum rate (--workers); default: each scenario's own rate")
	f.BoolVar(&cfg.Saturation, "saturation", true, "also run every scenario but the mixed one at maximum rate")
	f.IntVar(&cfg.Workers, "workers", 16, "concurrent requests of a maximum-rate run")
	f.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run (default all)")
	f.IntVar(&cfg.Servers, "servers", 0, "server processes (default 1 on SQLite, 2 on PostgreSQL)")
	f.StringVar(&cfg.ServerLogLevel, "server-log-level", "info", "the servers' SPENDSENSE_LOG_LEVEL (their logs go to files in the temp dir)")
	f.StringArrayVar(&cfg.ServerFlags, "server-flag", nil, "extra flag for each server process (spendsense serve), {n} being its number, e.g. --server-flag=--pprof=127.0.0.1:606{n} (repeatable)")
	f.StringSliceVar(&cfg.PGSettings, "pg-setting", nil, "extra name=value setting for the throwaway PostgreSQL (repeatable)")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the dataset and server logs (a SQLite file or a database on --database-url) and print where")
	f.Float64Var(&cfg.Quiet, "quiet", 0, "before each run, wait until the machine's CPU is less than this fraction busy (e.g. 0.2) for two seconds: for shared machines; 0 = don't wait")
	f.DurationVar(&cfg.QuietWait, "quiet-wait", 5*time.Minute, "longest wait for --quiet")
	f.BoolVar(&cfg.Check, "check", true, "verify the database's invariants after the run")
	f.StringVar(&out, "out", "", "also write the results into this Markdown file (e.g. docs/BENCHMARKS.md), replacing the section of an earlier run with the same engine and size")
	return cmd
}

// buildServer builds the spendsense server from this module's source into
// a temp folder and returns its path and a function removing the folder.
func buildServer(cmd *cobra.Command) (string, func(), error) {
	dir, err := os.MkdirTemp("", "spendsense-bench-server-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "spendsense")
	fmt.Fprintln(cmd.ErrOrStderr(), "spendsense-bench: building the server (go build ./cmd/spendsense; pass --server to use a built one)")
	build := exec.CommandContext(cmd.Context(), "go", "build", "-o", bin, "github.com/spendsense/operator-api/cmd/spendsense")
	build.Stdout, build.Stderr = cmd.ErrOrStderr(), cmd.ErrOrStderr()
	if err := build.Run(); err != nil {
		cleanup()
		var exit *exec.ExitError
		if errors.As(err, &exit) || errors.Is(err, exec.ErrNotFound) {
			return "", nil, fmt.Errorf("build the server: %w; build it yourself (go build -o spendsense ./cmd/spendsense) and pass --server ./spendsense", err)
		}
		return "", nil, err
	}
	return bin, cleanup, nil
}

// commandLine is how this run was invoked, for the report.
func commandLine() string {
	args := []string{"spendsense-bench"}
	for _, a := range os.Args[1:] {
		if strings.Contains(a, "://") { // a database URL may carry a password
			a = "…"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}
