package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/spendsense/operator-api/internal/auditseal"
	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/logging"
	"github.com/spendsense/operator-api/internal/store"
)

func serveCmd() *cobra.Command {
	var addr, pprofAddr, metricsAddr string
	var maxWrites, maxBulk, maxReads int
	var sealEvery time.Duration
	var requestTimeout time.Duration
	var demo, workers, serveAPI bool
	var alertTh store.AlertThresholds
	var rs realtimeSettings
	var envFlags []envFlag
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API: binds its address, then migrates the database and serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// Everything that can be wrong with the configuration is found
			// before the process acts: then the address is bound before
			// anything is migrated, seeded or delivered, so a second
			// `serve` on a taken port exits without touching the database.
			conf, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := logging.New(os.Stderr, conf.logLevel)
			slog.SetDefault(log)
			if err := applyEnv(cmd.Flags(), envFlags); err != nil {
				return err
			}
			if err := checkAlertThresholds(alertTh); err != nil {
				return err
			}
			if err := rs.check(); err != nil {
				return err
			}
			window, err := undoWindow()
			if err != nil {
				return err
			}
			if !workers && !serveAPI {
				return errors.New("--api=false and --workers=false leave nothing to run")
			}
			secret := os.Getenv("SPENDSENSE_JWT_SECRET")
			generated := secret == ""
			if generated {
				secret = auth.NewSecret()
			}
			issuer, err := auth.NewIssuer([]byte(secret), auth.DefaultTTL)
			if err != nil {
				return fmt.Errorf("SPENDSENSE_JWT_SECRET: %w", err)
			}
			sealKey, err := signingKey()
			if err != nil {
				return fmt.Errorf("%s: %w", signingKeyEnv, err)
			}
			var sink delivery.Sink
			if workers {
				if sink, err = delivery.NewSink(os.Getenv("SPENDSENSE_DELIVERY_WEBHOOK_URL"), os.Getenv("SPENDSENSE_DELIVERY_SECRET"), log); err != nil {
					return err
				}
			}
			var ln net.Listener
			if serveAPI {
				if ln, err = net.Listen("tcp", addr); err != nil {
					return err
				}
				defer ln.Close() // a no-op once served
			}
			var metricsLn net.Listener
			if metricsAddr != "" {
				if metricsLn, err = net.Listen("tcp", metricsAddr); err != nil {
					return err
				}
				defer metricsLn.Close()
			}
			if pprofAddr != "" {
				if err := startPprof(pprofAddr, log); err != nil {
					return err
				}
			}
			if generated {
				log.Warn("SPENDSENSE_JWT_SECRET is not set: using a random secret for this process; tokens will not survive a restart or work across processes")
			}
			s, err := openMigrated(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			s.SetUndoWindow(window)
			out := cmd.OutOrStdout()
			if demo {
				if err := setupDemo(ctx, s, out); err != nil {
					return err
				}
			}
			// Delivery: every process installs the enqueuer (approvals insert
			// their job in the approving transaction); only --workers runs jobs.
			reg := prometheus.NewRegistry()
			if metricsLn != nil {
				serveMetrics(metricsLn, reg, log)
			}
			var jobs []delivery.Jobs
			if sealKey == nil {
				// A key made up per process would sign seals no auditor
				// can check, and differ between processes: no seals at all.
				log.Warn(signingKeyEnv + " is not set: audit rows are hash-chained but NOT sealed, so removing a whole chain with its head would go undetected; set it (base64 of a 32-byte Ed25519 seed) to seal")
			} else if workers {
				jobs = append(jobs, auditseal.Jobs(s, sealKey, sealEvery, log))
			}
			dsvc, err := delivery.New(delivery.Config{Store: s, Sink: sink, Logger: log, Registry: reg, InsertOnly: !workers, Jobs: jobs})
			if err != nil {
				return err
			}
			if err := s.SetDeliveryQueue(dsvc.Queue()); err != nil {
				return err
			}
			if err := dsvc.Start(ctx); err != nil {
				return err
			}
			stopWorkers := func() error {
				sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return dsvc.Stop(sctx)
			}
			defer func() { _ = stopWorkers() }() // a no-op once stopped
			if !serveAPI {
				log.Info("worker-only: no HTTP listener; delivering until SIGTERM", slog.String("engine", string(s.Engine)))
				<-ctx.Done()
				log.Info("shutting down")
				return stopWorkers()
			}
			api := httpapi.New(httpapi.Config{
				Store: s, Issuer: issuer, Logger: log, Registry: reg,
				CORSOrigins:       splitList(envOr("SPENDSENSE_CORS_ORIGINS", "http://localhost:3000")),
				MaxInflightWrites: maxWrites, MaxInflightBulk: maxBulk, MaxInflightReads: maxReads,
				AlertThresholds:      alertTh,
				RealtimeAnonymousOff: rs.anonymous == "off", MaxStreams: rs.maxStreams, StreamRetention: rs.retention,
				RequestTimeout:   requestTimeout,
				MetricsElsewhere: metricsAddr != "",
			})
			srv := &http.Server{
				Handler:           api.Handler(),
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       60 * time.Second,
				IdleTimeout:       120 * time.Second,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			}
			// Live streams last as long as their clients: end them when
			// shutdown begins, or they would hold it open to its deadline.
			srv.RegisterOnShutdown(api.CloseStreams)
			log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("engine", string(s.Engine)),
				slog.String("docs", "http://"+ln.Addr().String()+"/docs"))
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			// SIGTERM: stop accepting, let in-flight requests finish.
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			// After the last request (which may have enqueued), let running
			// deliveries finish.
			if err := stopWorkers(); err != nil {
				return fmt.Errorf("stop delivery workers: %w", err)
			}
			log.Info("stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", envOr("SPENDSENSE_ADDR", "127.0.0.1:8000"), "listen address (env SPENDSENSE_ADDR)")
	cmd.Flags().BoolVar(&workers, "workers", true, "run delivery workers in this process (false: API only; approvals still enqueue their delivery)")
	cmd.Flags().BoolVar(&serveAPI, "api", true, "serve the HTTP API (false: delivery workers only, no listener)")
	cmd.Flags().DurationVar(&sealEvery, "audit-seal-interval", auditseal.DefaultInterval, "how often the worker process seals the audit rows written since the last seal (needs "+signingKeyEnv+")")
	cmd.Flags().IntVar(&maxWrites, "max-inflight-writes", 256, "actions served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().IntVar(&maxBulk, "max-inflight-bulk", 32, "bulk approvals and ingest batches served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().IntVar(&maxReads, "max-inflight-reads", 1024, "reads served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().DurationVar(&requestTimeout, "request-timeout", httpapi.DefaultRequestTimeout,
		"longest a request may take once its body is in, database calls included; past it the answer is 503 with Retry-After")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve GET /metrics on this separate address instead of the API's, e.g. 127.0.0.1:9100 (keep it private: docs/RELIABILITY.md)")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve runtime profiles (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; off by default")
	cmd.Flags().BoolVar(&demo, "demo", false, "on an empty database: seed demo data and create one demo operator per role, printing their credentials once")
	envFlags = append(envFlags, alertFlags(cmd, &alertTh)...)
	envFlags = append(envFlags, realtimeFlags(cmd, &rs)...)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// setupDemo seeds an empty database and creates demo operators.
func setupDemo(ctx context.Context, s *store.Store, out interface{ Write([]byte) (int, error) }) error {
	ops, err := s.ListOperators(ctx)
	if err != nil {
		return err
	}
	if len(ops) > 0 {
		fmt.Fprintln(out, "demo: database already has operators; not seeding (credentials were printed when it was created)")
		return nil
	}
	sum, err := runSeed(ctx, s, seedOptions{users: 200, recs: 2000, seed: 42}, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "demo: seeded %s\n", summaryLine(sum))
	fmt.Fprintln(out, "demo: operators (shown once; log in with POST /api/auth/login):")
	for _, d := range []struct{ id, name, role string }{
		{"demo_operator", "Demo Operator", "operator"},
		{"demo_senior", "Demo Senior Operator", "senior_operator"},
		{"demo_admin", "Demo Admin", "admin"},
		{"demo_ingest", "Demo Ingest Service", "ingest"},
	} {
		pw := auth.NewSecret()[:20]
		if err := createOperator(ctx, s, d.id, d.name, d.role, d.id+"@demo.spendsense.local", pw); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-16s role=%-16s password=%s\n", d.id, d.role, pw)
	}
	return nil
}
