package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// startPprof serves the runtime profiles (net/http/pprof) on their own
// listener, never on the API's: `serve --pprof 127.0.0.1:6060`, then e.g.
// `go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10`.
// It also samples blocking and mutex contention, which costs a little, so
// it is off unless asked for.
func startPprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	runtime.SetBlockProfileRate(int(10 * time.Microsecond)) // one sample per 10 µs blocked
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("pprof: profiling endpoints are open; keep this address private", slog.String("addr", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
	return nil
}
