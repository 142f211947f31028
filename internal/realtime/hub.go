// Package realtime is the live stream's reader: one per process, tailing
// the stream log that triggers write in every committing transaction
// (store.StreamEvents), rendering each event once and fanning it out to
// every open stream of the process. A change made by any process reaches
// every process's streams, and a reconnecting client resumes from its
// Last-Event-ID by reading the log again.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/spendsense/operator-api/internal/store"
)

// Config tunes a Hub; zero fields take the defaults.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger
	// Poll is how often the log is read (default 200ms): the stream's
	// latency floor. One indexed range query that usually finds nothing.
	Poll time.Duration
	// Retention is how long log rows are kept for resuming (default 2h;
	// the contract asks for at least an hour).
	Retention time.Duration
	// AlertEvery is how often alerts are evaluated while streams are open,
	// for alert_triggered (default 10s).
	AlertEvery time.Duration
	Alerts     store.AlertThresholds
	// Buffer is how many batches (one per poll that found rows) a stream
	// may fall behind before it is dropped (default 32); the client
	// reconnects with Last-Event-ID.
	Buffer int
}

// Event is one rendered event: the JSON of its data: line, for clients
// with a token or ticket (Full) and for anonymous ones (Redacted: type and
// timestamp only). Derived events (stats_updated, alert_triggered) are
// worked out by this process, not read from the log: they have no position
// of their own and are not replayed.
type Event struct {
	Pos            store.EventPos
	Derived        bool
	Full, Redacted []byte
}

// types maps log kinds to event types; other kinds (note edits, delivery
// retries, administration) move the position without an event.
var types = map[string]string{
	"approve":         "recommendation_approved",
	"reject":          "recommendation_rejected",
	"modify":          "recommendation_modified",
	"flag":            "recommendation_flagged",
	"undo":            "recommendation_undone",
	"resolve_flag":    "flag_resolved",
	"note_add":        "note_added",
	"tag_add":         "tag_added",
	"tag_remove":      "tag_removed",
	store.KindCreated: "recommendation_created",
}

// changesStats are the kinds after which /stats reads differently.
var changesStats = map[string]bool{"approve": true, "reject": true, "flag": true, "undo": true, "resolve_flag": true, store.KindCreated: true}

// ErrClosed is Subscribe's answer once the hub is shutting down.
var ErrClosed = errors.New("realtime: shutting down")

// Hub is the process's one reader of the stream log.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	done chan struct{}

	startMu sync.Mutex // guards started, and orders start against Close
	started bool
	closed  bool
	wg      sync.WaitGroup

	mu     sync.Mutex
	pos    store.EventPos
	subs   map[*Sub]struct{}
	alerts map[string]bool // ids at the last evaluation; nil before the first
}

// New makes a hub; it starts reading at its first subscriber.
func New(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 2 * time.Hour
	}
	if cfg.AlertEvery <= 0 {
		cfg.AlertEvery = 10 * time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 32
	}
	return &Hub{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), subs: map[*Sub]struct{}{}}
}

// Sub is one stream's subscription.
type Sub struct {
	h    *Hub
	ch   chan *Batch
	gone chan struct{} // closed when dropped, unsubscribed or the hub closes
	once sync.Once
}

// Events delivers the live events after the subscription's start, a
// batch per poll: a stream writes and flushes each batch at once, so a
// thousand streams cost a thousand writes per poll, not per event.
func (s *Sub) Events() <-chan *Batch { return s.ch }

// Gone is closed when the stream must end: it fell behind, or the hub is
// shutting down.
func (s *Sub) Gone() <-chan struct{} { return s.gone }

// Close ends the subscription.
func (s *Sub) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.once.Do(func() { close(s.gone) })
}

// Subscribe registers a stream and returns the position it starts after:
// every event after it comes through the subscription, nothing before.
func (h *Hub) Subscribe(ctx context.Context) (*Sub, store.EventPos, error) {
	if err := h.ensureStarted(ctx); err != nil {
		return nil, store.EventPos{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil, store.EventPos{}, ErrClosed
	default:
	}
	s := &Sub{h: h, ch: make(chan *Batch, h.cfg.Buffer), gone: make(chan struct{})}
	h.subs[s] = struct{}{}
	return s, h.pos, nil
}

// Streams is the number of open subscriptions.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every subscription (their streams return, so graceful
// shutdown is not held open by them) and stops reading.
func (h *Hub) Close() {
	h.startMu.Lock()
	if h.closed {
		h.startMu.Unlock()
		return
	}
	h.closed = true
	h.mu.Lock()
	close(h.done)
	for s := range h.subs {
		s.once.Do(func() { close(s.gone) })
	}
	h.subs = map[*Sub]struct{}{}
	h.mu.Unlock()
	h.startMu.Unlock()
	h.wg.Wait()
}

// Done is closed when the hub is shutting down.
func (h *Hub) Done() <-chan struct{} { return h.done }

// ensureStarted starts reading at the first subscriber, so a process
// nobody streams from never polls. A failed first read is not remembered:
// the next stream tries again.
func (h *Hub) ensureStarted(ctx context.Context) error {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.started {
		return nil
	}
	if err := h.start(ctx); err != nil {
		return err
	}
	h.started = true
	return nil
}

func (h *Hub) start(ctx context.Context) error {
	head, err := h.cfg.Store.StreamHead(ctx)
	if err != nil {
		return err
	}
	h.pos = head
	h.wg.Add(3)
	go h.loop(h.cfg.Poll, h.poll)
	go h.loop(h.cfg.AlertEvery, h.evaluateAlerts)
	go h.loop(time.Minute, h.prune)
	return nil
}

// loop runs fn every interval until the hub closes.
func (h *Hub) loop(every time.Duration, fn func(context.Context)) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.done
		cancel()
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// pollBatch is how many log rows one query takes.
const pollBatch = 1000

// poll reads what was committed since the last poll and fans it out.
func (h *Hub) poll(ctx context.Context) {
	for {
		h.mu.Lock()
		after := h.pos
		h.mu.Unlock()
		rows, err := h.cfg.Store.StreamEvents(ctx, after, nil, pollBatch)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("realtime: reading the stream log", slog.String("error", err.Error()))
			}
			return
		}
		if len(rows) == 0 {
			return
		}
		batch := make([]Event, 0, len(rows)+1)
		stats := false
		for _, r := range rows {
			if ev, ok := render(r); ok {
				batch = append(batch, ev)
			}
			stats = stats || changesStats[r.Kind]
		}
		if stats {
			batch = append(batch, derived("stats_updated", map[string]any{}, time.Now()))
		}
		h.mu.Lock()
		if len(batch) > 0 {
			h.broadcast(newBatch(h.pos, batch))
		}
		h.pos = rows[len(rows)-1].Pos
		h.mu.Unlock()
		if len(rows) < pollBatch {
			return
		}
	}
}

// broadcast hands a batch to every subscriber (the same slice: it is never
// changed afterwards); one whose buffer is full is dropped (its client
// reconnects and resumes from the log) rather than buffered without bound
// or allowed to hold up the others. h.mu is held.
func (h *Hub) broadcast(batch *Batch) {
	for s := range h.subs {
		select {
		case s.ch <- batch:
		default:
			delete(h.subs, s)
			s.once.Do(func() { close(s.gone) })
		}
	}
}

// evaluateAlerts sends alert_triggered for each alert that was not there at
// the previous evaluation (nothing at the first: those began before).
func (h *Hub) evaluateAlerts(ctx context.Context) {
	if h.Streams() == 0 {
		h.mu.Lock()
		h.alerts = nil // stale by the time someone listens again
		h.mu.Unlock()
		return
	}
	alerts, err := h.cfg.Store.Alerts(ctx, h.cfg.Alerts)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("realtime: evaluating alerts", slog.String("error", err.Error()))
		}
		return
	}
	now := map[string]bool{}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range alerts {
		now[a.ID] = true
		if h.alerts != nil && !h.alerts[a.ID] {
			h.broadcast(newBatch(h.pos, []Event{derived("alert_triggered", map[string]any{"alert_type": a.Type, "alert_id": a.ID,
				"severity": a.Severity, "message": a.Message, "count": a.Count}, time.Now())}))
		}
	}
	h.alerts = now
}

// prune drops log rows past the resume window.
func (h *Hub) prune(ctx context.Context) {
	if _, err := h.cfg.Store.PruneStream(ctx, h.cfg.Store.Now().Add(-h.cfg.Retention)); err != nil && ctx.Err() == nil {
		h.log.Warn("realtime: pruning the stream log", slog.String("error", err.Error()))
	}
}

// Resume works out where a client's Last-Event-ID leaves off. ok is false
// for an id that is not one of ours (the stream then starts live). An id
// older than the log (pruned) resumes from the oldest row kept.
func (h *Hub) Resume(ctx context.Context, lastEventID string) (store.EventPos, bool, error) {
	seq, err := strconv.ParseInt(lastEventID, 10, 64)
	if err != nil || seq < 0 {
		return store.EventPos{}, false, nil
	}
	p, ok, err := h.cfg.Store.StreamPos(ctx, seq)
	if err != nil || ok {
		return p, ok, err
	}
	oldest, err := h.cfg.Store.StreamOldest(ctx)
	if err != nil {
		return p, false, err
	}
	if seq <= oldest.Seq {
		return oldest, true, nil
	}
	return p, false, nil
}

// Replay reads the log from after `from` up to and including `to` and
// hands each event to fn: what a resuming client missed.
func (h *Hub) Replay(ctx context.Context, from, to store.EventPos, fn func(Event) error) error {
	for to.After(from) {
		rows, err := h.cfg.Store.StreamEvents(ctx, from, &to, 500)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			from = r.Pos
			if ev, ok := render(r); ok {
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Batch is what one poll found, handed to every stream at once. Full and
// Redacted are the whole batch already on the wire (id: and data: lines),
// for a stream that stood exactly at Start, the reader's position before
// the batch: the usual case, where a stream writes the same bytes as every
// other and renders nothing. Derived events carry the id of the real event
// before them.
type Batch struct {
	Start          store.EventPos
	Events         []Event
	Full, Redacted []byte
	End            store.EventPos // the last real event's position (Start if none)
}

func newBatch(start store.EventPos, events []Event) *Batch {
	b := &Batch{Start: start, Events: events, End: start}
	for _, ev := range events {
		if !ev.Derived {
			b.End = ev.Pos
		}
		b.Full = AppendEvent(b.Full, b.End.Seq, ev.Full)
		b.Redacted = AppendEvent(b.Redacted, b.End.Seq, ev.Redacted)
	}
	return b
}

// AppendEvent appends one event in the text/event-stream format.
func AppendEvent(buf []byte, id int64, data []byte) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendInt(buf, id, 10)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	return append(buf, "\n\n"...)
}

// wire is an event's data: line.
type wire struct {
	Type      string         `json:"type"`
	Data      map[string]any `json:"data"`
	Timestamp time.Time      `json:"timestamp"`
}

// render turns a log row into its event, if its kind has one.
func render(r store.StreamEvent) (Event, bool) {
	typ, ok := types[r.Kind]
	if !ok {
		return Event{}, false
	}
	data := map[string]any{"recommendation_id": r.RecommendationID}
	if r.Kind == store.KindCreated {
		data["user_id"] = r.UserID
	} else {
		data["operator_id"] = r.OperatorID
	}
	ev := derived(typ, data, r.At)
	ev.Pos, ev.Derived = r.Pos, false
	return ev, true
}

// derived renders an event of this process's own making.
func derived(typ string, data map[string]any, at time.Time) Event {
	return Event{Derived: true, Full: Render(typ, data, at), Redacted: Render(typ, nil, at)}
}

// Render is the JSON of an event's data: line; nil data renders as {}.
func Render(typ string, data map[string]any, at time.Time) []byte {
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(wire{Type: typ, Data: data, Timestamp: at.UTC()})
	if err != nil {
		panic(err) // strings, numbers and a time: cannot fail
	}
	return b
}
