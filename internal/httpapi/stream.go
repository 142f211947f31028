package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/realtime"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

const (
	streamPath = "/api/realtime/stream"
	ticketPath = "/api/realtime/ticket"
	// ticketTTL is how long a stream ticket can be redeemed.
	ticketTTL = 60 * time.Second
	// defaultMaxStreams bounds the streams one process serves at once.
	defaultMaxStreams = 2000
	// streamWriteTimeout is how long one event may take to reach a client's
	// socket: a client that stops reading is dropped after it.
	streamWriteTimeout = 10 * time.Second
	// defaultPingEvery is the heartbeat the contract asks for.
	defaultPingEvery = 20 * time.Second
)

type ticketInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
}

type ticketOutput struct {
	Body struct {
		Ticket    string `json:"ticket" doc:"Pass as ?ticket= to GET /api/realtime/stream, once."`
		ExpiresIn int    `json:"expires_in" doc:"Seconds the ticket can be redeemed."`
	}
}

func (a *API) registerRealtime(api huma.API) {
	register(api, huma.Operation{
		OperationID: "create-realtime-ticket", Method: http.MethodPost, Path: ticketPath, Tags: []string{"Realtime"},
		Summary: "A single-use ticket for the live stream",
		Description: "A browser's EventSource cannot send an Authorization header: it opens `GET /api/realtime/stream?ticket=…` with this ticket instead. " +
			"The ticket works once, in any server process, within `expires_in` seconds.",
	}, func(ctx context.Context, _ *ticketInput) (*ticketOutput, error) {
		t, err := a.store.CreateTicket(ctx, actorFrom(ctx).ID, ticketTTL)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &ticketOutput{}
		out.Body.Ticket, out.Body.ExpiresIn = t, int(ticketTTL/time.Second)
		return out, nil
	})

	// The stream itself is a plain handler (a response that lasts as long as
	// the client stays), documented in the OpenAPI document by hand.
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "realtime-stream", Method: http.MethodGet, Path: streamPath, Tags: []string{"Realtime"},
		Summary: "Live events (Server-Sent Events)",
		Description: "`text/event-stream`. Each event is an `id:` line and one `data:` line holding `{\"type\",\"data\":{…},\"timestamp\"}`. " +
			"`connected` comes first and `ping` every 20 s. Types: `recommendation_created` (`recommendation_id`, `user_id`), " +
			"`recommendation_approved|rejected|modified|flagged|undone` and `flag_resolved` (`recommendation_id`, `operator_id`), `note_added`, `tag_added`, " +
			"`tag_removed`, `alert_triggered` (`alert_type`), `stats_updated`. A change committed by any server process reaches every process's streams. " +
			"Send `Last-Event-ID` to resume after the event with that id (events of the last " +
			"two hours are kept). With a bearer token or `?ticket=` (from POST /api/realtime/ticket) events are complete; " +
			"without either, only `type` and `timestamp` (`data` is `{}`), or 401 when the server runs with SPENDSENSE_REALTIME_ANONYMOUS=off. " +
			"Role `ingest` gets 403. A client that does not keep up is disconnected (it may reconnect and resume); " +
			"beyond the server's limit of open streams the answer is 503 with Retry-After.",
		Parameters: []*huma.Param{
			{Name: "ticket", In: "query", Description: "A single-use ticket from POST /api/realtime/ticket.", Schema: &huma.Schema{Type: "string"}},
			{Name: "Last-Event-ID", In: "header", Description: "The id of the last event received: the stream resumes after it.", Schema: &huma.Schema{Type: "string"}},
		},
		Security: []map[string][]string{{}, {"bearer": {}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The event stream.", Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}}},
			"401": {Description: "Bad token or ticket, or anonymous streams are off."},
			"403": {Description: "Role ingest."},
			"503": {Description: "Too many open streams, or the server is shutting down."},
		},
	})
}

// serveStream is GET /api/realtime/stream.
func (a *API) serveStream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	full, ok := a.streamAccess(w, r)
	if !ok {
		return
	}
	if !a.takeStreamSlot(w) {
		return
	}
	defer a.releaseStreamSlot()
	sub, head, err := a.hub.Subscribe(ctx)
	if err != nil {
		if err != realtime.ErrClosed {
			a.log.ErrorContext(ctx, "realtime subscribe", "error", err.Error())
		}
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "the live stream is not available right now; retry")
		return
	}
	defer sub.Close()
	a.metrics.streams.Inc()
	defer a.metrics.streams.Dec()

	last, replay := a.resumePoint(r, head)
	sw := &streamWriter{w: w, rc: startEventStream(w), full: full}
	sw.add(last.Seq, realtime.Render("connected", nil, time.Now()))
	if sw.write() != nil {
		return
	}
	if replay {
		err := a.hub.Replay(ctx, last, head, func(ev realtime.Event) error {
			last = ev.Pos
			sw.add(ev.Pos.Seq, sw.pick(ev))
			if len(sw.buf) < 32<<10 {
				return nil
			}
			return sw.write()
		})
		if err != nil || sw.write() != nil {
			return
		}
	}
	a.relayEvents(ctx, sub, sw, last)
}

// streamAccess decides who the stream is for: full events for a reviewer's
// bearer token or ticket, redacted ones for nobody in particular (unless
// anonymous streams are off). ok is false when it has answered with a
// problem instead.
func (a *API) streamAccess(w http.ResponseWriter, r *http.Request) (full, ok bool) {
	ctx := r.Context()
	var role review.Role
	switch {
	case r.Header.Get("Authorization") != "":
		op, _, status, msg := a.verifyBearer(ctx, r.Header.Get("Authorization"))
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="spendsense"`)
			}
			writeProblem(w, status, msg)
			return false, false
		}
		full, role = true, op.Role
	case r.URL.Query().Has("ticket"):
		op, err := a.store.RedeemTicket(ctx, r.URL.Query().Get("ticket"))
		if err != nil {
			if review.ErrorCode(err) == review.EUnauthorized {
				writeProblem(w, http.StatusUnauthorized, "unknown, expired or already used ticket: get a new one from POST "+ticketPath)
			} else {
				a.log.ErrorContext(ctx, "redeem ticket", "error", err.Error())
				w.Header().Set("Retry-After", "1")
				writeProblem(w, http.StatusServiceUnavailable, "the database did not answer; retry with a new ticket")
			}
			return false, false
		}
		full, role = true, op.Role
	case a.cfg.RealtimeAnonymousOff:
		w.Header().Set("WWW-Authenticate", `Bearer realm="spendsense"`)
		writeProblem(w, http.StatusUnauthorized, "the live stream needs a bearer token or ?ticket= from POST "+ticketPath)
		return false, false
	}
	if full && !allowed(reviewers, role) {
		writeProblem(w, http.StatusForbidden, "role "+string(role)+" may not read the live stream")
		return false, false
	}
	return full, true
}

// takeStreamSlot takes one of the server's open-stream slots, or answers
// 503 when there is none; releaseStreamSlot gives it back.
func (a *API) takeStreamSlot(w http.ResponseWriter) bool {
	if a.streamSlots == nil {
		return true
	}
	select {
	case a.streamSlots <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "5")
		writeProblem(w, http.StatusServiceUnavailable, "this server has its limit of open streams; retry later")
		return false
	}
}

func (a *API) releaseStreamSlot() {
	if a.streamSlots != nil {
		<-a.streamSlots
	}
}

// resumePoint is where the stream starts: after Last-Event-ID when it is
// one of ours (replay: there are events between it and head), else head.
func (a *API) resumePoint(r *http.Request, head store.EventPos) (last store.EventPos, replay bool) {
	last = head
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from, ok, err := a.hub.Resume(r.Context(), id)
		if err != nil {
			a.log.ErrorContext(r.Context(), "realtime resume", "error", err.Error())
		} else if ok {
			last, replay = from, head.After(from)
		}
	}
	return last, replay
}

// startEventStream sends the stream's headers.
func startEventStream(w http.ResponseWriter) *http.ResponseController {
	// A stream is a legitimately long response: no read deadline (the
	// server's would end it), and a write deadline per event instead of per
	// response, so a client that stops reading is dropped.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// The stream ends with its connection, so it needs no chunk framing: with
	// chunks net/http sends each batch as a chunk header, the batch and a
	// CRLF, which past its 4 KiB buffer are three system calls (three TCP
	// segments) per batch per stream; without, a batch is one write. "identity"
	// is net/http's switch for this (the server drops the header and closes
	// the connection when the handler returns), as the SSE specification suggests.
	h.Set("Transfer-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	return rc
}

// streamWriter writes a stream's events: appended to buf and written, with
// one deadline and one flush, a batch at a time.
type streamWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	full bool // full events, not redacted
	buf  []byte
}

func (sw *streamWriter) add(id int64, payload []byte) {
	sw.buf = realtime.AppendEvent(sw.buf, id, payload)
}

func (sw *streamWriter) writeBytes(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := sw.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// write sends what add appended.
func (sw *streamWriter) write() error {
	err := sw.writeBytes(sw.buf)
	sw.buf = sw.buf[:0]
	return err
}

func (sw *streamWriter) pick(ev realtime.Event) []byte {
	if sw.full {
		return ev.Full
	}
	return ev.Redacted
}

func (sw *streamWriter) pickBatch(b *realtime.Batch) []byte {
	if sw.full {
		return b.Full
	}
	return b.Redacted
}

// relayEvents sends the hub's batches after last, and a ping when there are
// none, until the client or the hub goes.
func (a *API) relayEvents(ctx context.Context, sub *realtime.Sub, sw *streamWriter, last store.EventPos) {
	ping := time.NewTicker(a.pingEvery)
	defer ping.Stop()
	for {
		select {
		case batch := <-sub.Events():
			if batch.Start == last {
				// In step with the reader: the batch's own bytes.
				last = batch.End
				if sw.writeBytes(sw.pickBatch(batch)) != nil {
					return
				}
				continue
			}
			for _, ev := range batch.Events {
				// Skip what a resume already replayed (this process's reader
				// may be behind the one the client came from).
				if ev.Derived || ev.Pos.After(last) {
					if !ev.Derived {
						last = ev.Pos
					}
					sw.add(last.Seq, sw.pick(ev))
				}
			}
			if sw.write() != nil {
				return
			}
		case <-ping.C:
			sw.add(last.Seq, realtime.Render("ping", nil, time.Now()))
			if sw.write() != nil {
				return
			}
		case <-sub.Gone():
			return
		case <-ctx.Done():
			return
		}
	}
}
