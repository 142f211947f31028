// Package httpapi is the HTTP face of SpendSense: every operation of the
// contract as a typed huma operation (so the OpenAPI 3.1 document, /docs and
// input validation all come from the same Go types), the auth middleware, and
// the one mapping from domain errors to problem+json.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/go-chi/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spendsense/operator-api/internal/apidocs"
	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/realtime"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Version is reported in the OpenAPI document.
const Version = "1.0.0"

// DefaultRequestTimeout is Config.RequestTimeout's default.
const DefaultRequestTimeout = 10 * time.Second

// Config is what the API needs from its process.
type Config struct {
	Store       *store.Store
	Issuer      *auth.Issuer
	Logger      *slog.Logger
	CORSOrigins []string
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
	// ClaimLease is how long a queue claim lasts (default 10 minutes).
	ClaimLease time.Duration
	// IdempotencyTTL is how long Idempotency-Key replies are kept (default 24h).
	IdempotencyTTL time.Duration
	// MaxInflightWrites, MaxInflightBulk (bulk approvals and ingest batches)
	// and MaxInflightReads bound the /api/ requests served at once
	// (overload.go); 0 means the default (256, 32 and 1,024), < 0 no limit.
	MaxInflightWrites, MaxInflightBulk, MaxInflightReads int
	// AlertThresholds say when each alert of /alerts fires (zero fields:
	// store.DefaultAlertThresholds).
	AlertThresholds store.AlertThresholds
	// RealtimeAnonymousOff refuses the live stream to clients with neither
	// a token nor a ticket (SPENDSENSE_REALTIME_ANONYMOUS=off); by default
	// they get redacted events.
	RealtimeAnonymousOff bool
	// MaxStreams bounds the live streams served at once (0: 2,000; < 0: no
	// limit); one more is answered 503.
	MaxStreams int
	// StreamRetention is how long the stream log is kept for resuming
	// (default 2h); StreamPoll how often it is read (default 200ms);
	// StreamPing the heartbeat (default 20s).
	StreamRetention, StreamPoll, StreamPing time.Duration
	// MetricsElsewhere: /metrics is served on a listener of its own
	// (serve --metrics-addr), not on the API's handler.
	MetricsElsewhere bool
	// RequestTimeout bounds each request's time in the server once its
	// body is in, database calls included (default 10 s; bodies.go).
	RequestTimeout time.Duration
}

// API is the HTTP API.
type API struct {
	store   *store.Store
	issuer  *auth.Issuer
	log     *slog.Logger
	metrics *metrics
	cfg     Config
	handler http.Handler
	huma    huma.API
	// The live stream: the process's one reader of the stream log, and the
	// bound on open streams (nil: none).
	hub         *realtime.Hub
	streamSlots chan struct{}
	pingEvery   time.Duration
	mux         *http.ServeMux // to name the route of a request refused before it
}

func init() { installErrorModel() }

// New builds the API and its handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ClaimLease <= 0 {
		cfg.ClaimLease = 10 * time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	a := &API{store: cfg.Store, issuer: cfg.Issuer, log: cfg.Logger, cfg: cfg, pingEvery: cfg.StreamPing}
	if a.pingEvery <= 0 {
		a.pingEvery = defaultPingEvery
	}
	switch {
	case cfg.MaxStreams == 0:
		a.streamSlots = make(chan struct{}, defaultMaxStreams)
	case cfg.MaxStreams > 0:
		a.streamSlots = make(chan struct{}, cfg.MaxStreams)
	}
	a.hub = realtime.New(realtime.Config{Store: cfg.Store, Logger: cfg.Logger, Poll: cfg.StreamPoll,
		Retention: cfg.StreamRetention, Alerts: cfg.AlertThresholds})
	a.metrics = newMetrics(cfg.Registry, cfg.Store)

	mux := http.NewServeMux()
	a.mux = mux
	hc := huma.DefaultConfig("SpendSense Operator API", Version)
	hc.Info.Description = "Compliance operators review every AI-generated financial-education recommendation " +
		"(approve, reject, edit, flag) before a customer sees it. Every decision is explainable and audited.\n\n" +
		"Authenticate with `POST /api/auth/login`, then send `Authorization: Bearer <token>`. " +
		"Each operation lists the roles that may call it (`x-roles`)."
	// /docs is served from files embedded in the binary (apidocs), not
	// huma's page, which loads its script from unpkg.com: blank offline.
	hc.DocsPath = ""
	// Relative: the server that served this document, wherever it runs.
	hc.Servers = []*huma.Server{{URL: "/", Description: "the server that serves this document"}}
	hc.CreateHooks = nil // no $schema links injected into bodies: the contract's shapes are exact
	// encoding/json, with a fast path for recommendations (fastjson.go)
	hc.Formats = jsonFormats()
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	api := humago.New(mux, hc)
	a.huma = api
	api.UseMiddleware(a.authenticate, a.checkBody)

	a.registerOpen(api)
	a.registerAuth(api)
	a.registerRecommendations(api)
	a.registerActions(api)
	a.registerAnnotations(api)
	a.registerUsers(api)
	a.registerTrace(api)
	a.registerAudit(api)
	a.registerStats(api)
	a.registerFlags(api)
	a.registerQueue(api)
	a.registerDeliveries(api)
	a.registerOperators(api)
	a.registerIngest(api)
	a.registerInsights(api)
	a.registerRealtime(api)
	mux.HandleFunc("GET "+streamPath, a.serveStream)
	apidocs.Register(mux)
	if !cfg.MetricsElsewhere {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	}

	var h http.Handler = problemFallback(mux)
	h = a.idempotency(h)
	h = cors.New(cors.Options{
		AllowedOrigins:   cfg.CORSOrigins,
		AllowedMethods:   []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-ID"},
		ExposedHeaders:   []string{"ETag", "Link", "X-Next-Cursor", "X-Request-ID", "Retry-After", "Idempotent-Replayed"},
		AllowCredentials: true,
		MaxAge:           600,
	}).Handler(h)
	h = newAdmission(cfg.MaxInflightWrites, cfg.MaxInflightBulk, cfg.MaxInflightReads, cfg.Registry).limit(h)
	h = withDeadline(cfg.RequestTimeout, h)
	h = readBodyFirst(h) // before the bounds: see bodies.go
	h = a.observe(h)
	a.handler = h
	return a
}

// CloseStreams ends every live stream (they would otherwise hold a
// graceful shutdown open until its deadline) and stops reading the stream
// log. Register it with http.Server.RegisterOnShutdown.
func (a *API) CloseStreams() { a.hub.Close() }

// Handler is the root handler.
func (a *API) Handler() http.Handler { return a.handler }

// OpenAPI returns the generated OpenAPI document.
func (a *API) OpenAPI() *huma.OpenAPI { return a.huma.OpenAPI() }

// register adds an operation under the access table's roles. Operations not
// in the table are open (no token).
func register[I, O any](api huma.API, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	if roles, ok := access[op.OperationID]; ok {
		op.Security = []map[string][]string{{"bearer": {}}}
		if op.Metadata == nil {
			op.Metadata = map[string]any{}
		}
		op.Metadata["roles"] = roles
		if op.Extensions == nil {
			op.Extensions = map[string]any{}
		}
		op.Extensions["x-roles"] = roleNames(roles)
		op.Description += "\n\nRoles: " + joinRoles(roles) + "."
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
	} else if len(op.Path) > 4 && op.Path[:5] == "/api/" && op.OperationID != "auth-login" {
		panic("httpapi: operation " + op.OperationID + " is missing from the access table")
	} else {
		// Public: an empty requirement says "no token", where leaving it out
		// would leave clients to guess.
		op.Security = []map[string][]string{}
	}
	if strings.HasPrefix(op.Path, "/api/") {
		op.Errors = append(op.Errors, http.StatusServiceUnavailable) // overload.go
	}
	huma.Register(api, op, h)
}

func joinRoles(roles []review.Role) string {
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += ", "
		}
		s += "`" + string(r) + "`"
	}
	return s
}
