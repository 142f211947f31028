package main

import (
	"context"
	"crypto/ed25519"
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

// serveOptions are serve's flags.
type serveOptions struct {
	addr, pprofAddr, metricsAddr string
	maxWrites, maxBulk, maxReads int
	sealEvery, requestTimeout    time.Duration
	demo, workers, serveAPI      bool
	alertTh                      store.AlertThresholds
	rs                           realtimeSettings
	envFlags                     []envFlag
}

func serveCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API: binds its address, then migrates the database and serves",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	cmd.Flags().StringVar(&o.addr, "addr", envOr("SPENDSENSE_ADDR", "127.0.0.1:8000"), "listen address (env SPENDSENSE_ADDR)")
	cmd.Flags().BoolVar(&o.workers, "workers", true, "run delivery workers in this process (false: API only; approvals still enqueue their delivery)")
	cmd.Flags().BoolVar(&o.serveAPI, "api", true, "serve the HTTP API (false: delivery workers only, no listener)")
	cmd.Flags().DurationVar(&o.sealEvery, "audit-seal-interval", auditseal.DefaultInterval, "how often the worker process seals the audit rows written since the last seal (needs "+signingKeyEnv+")")
	cmd.Flags().IntVar(&o.maxWrites, "max-inflight-writes", 256, "actions served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().IntVar(&o.maxBulk, "max-inflight-bulk", 32, "bulk approvals and ingest batches served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().IntVar(&o.maxReads, "max-inflight-reads", 1024, "reads served at once; more are answered 503 with Retry-After (-1: no limit)")
	cmd.Flags().DurationVar(&o.requestTimeout, "request-timeout", httpapi.DefaultRequestTimeout,
		"longest a request may take once its body is in, database calls included; past it the answer is 503 with Retry-After")
	cmd.Flags().StringVar(&o.metricsAddr, "metrics-addr", "", "serve GET /metrics on this separate address instead of the API's, e.g. 127.0.0.1:9100 (keep it private: docs/RELIABILITY.md)")
	cmd.Flags().StringVar(&o.pprofAddr, "pprof", "", "serve runtime profiles (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; off by default")
	cmd.Flags().BoolVar(&o.demo, "demo", false, "on an empty database: seed demo data and create one demo operator per role, printing their credentials once")
	o.envFlags = append(o.envFlags, alertFlags(cmd, &o.alertTh)...)
	o.envFlags = append(o.envFlags, realtimeFlags(cmd, &o.rs)...)
	return cmd
}

// serveConfig is what serve checked before acting.
type serveConfig struct {
	log       *slog.Logger
	window    time.Duration
	issuer    *auth.Issuer
	generated bool // the JWT secret was made up for this process
	sealKey   ed25519.PrivateKey
	sink      delivery.Sink
}

// run checks everything that can be wrong with the configuration before the
// process acts; then it binds the address before anything is migrated,
// seeded or delivered, so a second `serve` on a taken port exits without
// touching the database.
func (o *serveOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	c, err := o.check(cmd)
	if err != nil {
		return err
	}
	log := c.log
	var ln net.Listener
	if o.serveAPI {
		if ln, err = net.Listen("tcp", o.addr); err != nil {
			return err
		}
		defer ln.Close() // a no-op once served
	}
	var metricsLn net.Listener
	if o.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", o.metricsAddr); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	if o.pprofAddr != "" {
		if err := startPprof(o.pprofAddr, log); err != nil {
			return err
		}
	}
	if c.generated {
		log.Warn("SPENDSENSE_JWT_SECRET is not set: using a random secret for this process; tokens will not survive a restart or work across processes")
	}
	s, err := openMigrated(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetUndoWindow(c.window)
	if o.demo {
		if err := setupDemo(ctx, s, cmd.OutOrStdout()); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	if metricsLn != nil {
		serveMetrics(metricsLn, reg, log)
	}
	stopWorkers, err := o.startDelivery(ctx, s, c, reg)
	if err != nil {
		return err
	}
	defer func() { _ = stopWorkers() }() // a no-op once stopped
	if !o.serveAPI {
		log.Info("worker-only: no HTTP listener; delivering until SIGTERM", slog.String("engine", string(s.Engine)))
		<-ctx.Done()
		log.Info("shutting down")
		return stopWorkers()
	}
	api := httpapi.New(httpapi.Config{
		Store: s, Issuer: c.issuer, Logger: log, Registry: reg,
		CORSOrigins:       splitList(envOr("SPENDSENSE_CORS_ORIGINS", "http://localhost:3000")),
		MaxInflightWrites: o.maxWrites, MaxInflightBulk: o.maxBulk, MaxInflightReads: o.maxReads,
		AlertThresholds:      o.alertTh,
		RealtimeAnonymousOff: o.rs.anonymous == "off", MaxStreams: o.rs.maxStreams, StreamRetention: o.rs.retention,
		RequestTimeout:   o.requestTimeout,
		MetricsElsewhere: o.metricsAddr != "",
	})
	if err := serveHTTP(ctx, ln, api, s.Engine, log); err != nil {
		return err
	}
	// After the last request (which may have enqueued), let running
	// deliveries finish.
	if err := stopWorkers(); err != nil {
		return fmt.Errorf("stop delivery workers: %w", err)
	}
	log.Info("stopped")
	return nil
}

// check reads and checks the configuration: flags, environment, secrets
// and the delivery sink.
func (o *serveOptions) check(cmd *cobra.Command) (serveConfig, error) {
	var c serveConfig
	conf, err := loadConfig(cmd)
	if err != nil {
		return c, err
	}
	c.log = logging.New(os.Stderr, conf.logLevel)
	slog.SetDefault(c.log)
	if err := applyEnv(cmd.Flags(), o.envFlags); err != nil {
		return c, err
	}
	if err := checkAlertThresholds(o.alertTh); err != nil {
		return c, err
	}
	if err := o.rs.check(); err != nil {
		return c, err
	}
	if c.window, err = undoWindow(); err != nil {
		return c, err
	}
	if !o.workers && !o.serveAPI {
		return c, errors.New("--api=false and --workers=false leave nothing to run")
	}
	secret := os.Getenv("SPENDSENSE_JWT_SECRET")
	c.generated = secret == ""
	if c.generated {
		secret = auth.NewSecret()
	}
	if c.issuer, err = auth.NewIssuer([]byte(secret), auth.DefaultTTL); err != nil {
		return c, fmt.Errorf("SPENDSENSE_JWT_SECRET: %w", err)
	}
	if c.sealKey, err = signingKey(); err != nil {
		return c, fmt.Errorf("%s: %w", signingKeyEnv, err)
	}
	if o.workers {
		if c.sink, err = delivery.NewSink(os.Getenv("SPENDSENSE_DELIVERY_WEBHOOK_URL"), os.Getenv("SPENDSENSE_DELIVERY_SECRET"), c.log); err != nil {
			return c, err
		}
	}
	return c, nil
}

// startDelivery wires the delivery queue into the store (every process:
// approvals insert their job in the approving transaction) and starts the
// service, which runs jobs only with --workers. The function it returns
// stops it, waiting for running deliveries, and is a no-op once stopped.
func (o *serveOptions) startDelivery(ctx context.Context, s *store.Store, c serveConfig, reg *prometheus.Registry) (func() error, error) {
	var jobs []delivery.Jobs
	if c.sealKey == nil {
		// A key made up per process would sign seals no auditor
		// can check, and differ between processes: no seals at all.
		c.log.Warn(signingKeyEnv + " is not set: audit rows are hash-chained but NOT sealed, so removing a whole chain with its head would go undetected; set it (base64 of a 32-byte Ed25519 seed) to seal")
	} else if o.workers {
		jobs = append(jobs, auditseal.Jobs(s, c.sealKey, o.sealEvery, c.log))
	}
	dsvc, err := delivery.New(delivery.Config{Store: s, Sink: c.sink, Logger: c.log, Registry: reg, InsertOnly: !o.workers, Jobs: jobs})
	if err != nil {
		return nil, err
	}
	if err := s.SetDeliveryQueue(dsvc.Queue()); err != nil {
		return nil, err
	}
	if err := dsvc.Start(ctx); err != nil {
		return nil, err
	}
	return func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return dsvc.Stop(sctx)
	}, nil
}

// serveHTTP serves api on ln until ctx ends (SIGTERM), then stops accepting
// and lets in-flight requests finish.
func serveHTTP(ctx context.Context, ln net.Listener, api *httpapi.API, engine store.Engine, log *slog.Logger) error {
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
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("engine", string(engine)),
		slog.String("docs", "http://"+ln.Addr().String()+"/docs"))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
