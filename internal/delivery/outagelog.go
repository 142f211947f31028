package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/spendsense/operator-api/internal/store"
)

// River's own services (the producer fetching jobs, the leader election,
// the maintenance services) log each failed poll at ERROR. While the
// database is down that is dozens of ERROR lines for one condition the
// server already reports (every request answers 503 and is logged at WARN),
// burying any real error. riverLog writes those lines at WARN, marked
// database_unavailable, when the database does not answer a ping at that
// moment or did not a few seconds before; an ERROR while the database has
// been answering stays an ERROR.
type riverLog struct {
	slog.Handler
	down *dbDown
}

func newRiverLogger(base *slog.Logger, s *store.Store) *slog.Logger {
	if s == nil {
		return base
	}
	return slog.New(riverLog{Handler: base.Handler(), down: &dbDown{s: s}})
}

func (h riverLog) Enabled(ctx context.Context, level slog.Level) bool {
	return h.Handler.Enabled(ctx, level) || (level >= slog.LevelError && h.Handler.Enabled(ctx, slog.LevelWarn))
}

func (h riverLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && h.down.now(ctx) {
		warn := slog.NewRecord(r.Time, slog.LevelWarn, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { warn.AddAttrs(a); return true })
		warn.AddAttrs(slog.Bool("database_unavailable", true))
		r = warn
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h riverLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return riverLog{Handler: h.Handler.WithAttrs(attrs), down: h.down}
}

func (h riverLog) WithGroup(name string) slog.Handler {
	return riverLog{Handler: h.Handler.WithGroup(name), down: h.down}
}

// dbDown answers whether the database fails a ping, asking it at most once
// a second (River reports an outage from several services at once), or
// failed one within the last few seconds: River reports an attempt that
// began before the database came back ("not yet accepting connections")
// after our own ping already succeeds, and that line is part of the outage.
type dbDown struct {
	s        *store.Store
	mu       sync.Mutex
	at       time.Time // of the last ping
	result   bool      // the last ping failed
	lastFail time.Time
}

const (
	dbDownPingTimeout = 500 * time.Millisecond
	dbDownKeep        = time.Second
	dbDownLinger      = 5 * time.Second
)

func (d *dbDown) now(ctx context.Context) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) >= dbDownKeep {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbDownPingTimeout)
		defer cancel()
		d.result, d.at = d.s.Ping(c) != nil, time.Now()
		if d.result {
			d.lastFail = d.at
		}
	}
	return d.result || (!d.lastFail.IsZero() && time.Since(d.lastFail) < dbDownLinger)
}
