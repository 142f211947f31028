package main

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves GET /metrics on ln, a listener of its own (`serve
// --metrics-addr 127.0.0.1:9100`, bound with the API's address before
// anything else); the API's port then has no /metrics. The metrics need no
// token, and they show traffic, queue depths and operators' activity by
// route: bind this address where only the Prometheus server can reach it
// (loopback, a private interface, or a port the firewall closes to
// everyone else), or put a proxy with authentication in front of it
// (docs/RELIABILITY.md).
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Timeout: 10 * time.Second}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("metrics listening", slog.String("addr", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
}
