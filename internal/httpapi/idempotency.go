package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Idempotency-Key.
//
// A POST, PATCH or DELETE action under /api/operator or /api/ingest that
// carries an Idempotency-Key header is run at most once per (operator, key):
// a repeat with the same request gets the first response back (status,
// body, Content-Type, ETag, Location, plus Idempotent-Replayed: true)
// without acting again; a repeat with a different request under the same
// key is 422. The record is a row in the shared database, written in the
// action's own transaction (store.IdemCommit), so this holds across
// restarts, crashes and processes on one PostgreSQL: a concurrent repeat
// waits for the first request's transaction and then replays it.
//
// What is recorded: every answer below 500 except those that describe the
// caller's credentials or a transient condition (401, 403, 408, 429, 499):
// a 409 or 404 is the request's real outcome and is replayed; a 5xx is not
// stored, so a retry acts.
//
// Requests this layer leaves to the handler untouched: no key; no valid
// token of a live operator whose role may call the operation (the auth
// middleware answers 401/403, and nothing is written); bodies over the body
// limit of the operation (the handler answers 413).

const (
	idemHeader   = "Idempotency-Key"
	idemReplayed = "Idempotent-Replayed"
	idemMaxKey   = 255
	// idemDefaultMaxBody is huma's body limit for operations that set none;
	// larger bodies are the handler's to refuse (413).
	idemDefaultMaxBody = 1 << 20
	idemMaxResponse    = 8 << 20 // responses larger than this are not recorded
	idemPurgeEvery     = time.Minute
	idemRecordTimeout  = 10 * time.Second
)

// idemReplayHeaders are the response headers recorded beside Content-Type.
var idemReplayHeaders = []string{"ETag", "Location"}

// idemMethods are the methods of keyed operations.
var idemMethods = []string{http.MethodPost, http.MethodPatch, http.MethodDelete}

// idemOp is what the layer needs to know of a keyed operation.
type idemOp struct {
	roles   []review.Role
	maxBody int64
}

// keyedOps finds the keyed operation a request is for.
type keyedOps struct {
	ops map[string]idemOp // by ServeMux pattern
	// mux holds the same patterns, so that a request is matched exactly
	// as the real mux will match it.
	mux *http.ServeMux
}

// keyedOperations lists the operations that take an Idempotency-Key: those
// under the access table (they carry roles) with a method in idemMethods.
// New registers every operation before wrapping the mux in this layer.
func (a *API) keyedOperations() keyedOps {
	k := keyedOps{ops: map[string]idemOp{}, mux: http.NewServeMux()}
	if a.huma == nil {
		return k
	}
	for path, item := range a.huma.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Post, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			roles, ok := op.Metadata["roles"].([]review.Role)
			if !ok {
				continue
			}
			pattern := op.Method + " " + path
			k.ops[pattern] = idemOp{roles: roles, maxBody: op.MaxBodyBytes}
			k.mux.Handle(pattern, http.NotFoundHandler())
		}
	}
	return k
}

// find returns the keyed operation r is for.
func (k keyedOps) find(r *http.Request) (idemOp, bool) {
	if !slices.Contains(idemMethods, r.Method) ||
		!(strings.HasPrefix(r.URL.Path, "/api/operator/") || strings.HasPrefix(r.URL.Path, "/api/ingest/")) {
		return idemOp{}, false
	}
	_, pattern := k.mux.Handler(r)
	op, ok := k.ops[pattern]
	return op, ok
}

// idempotency replays the first response to a repeated Idempotency-Key.
func (a *API) idempotency(next http.Handler) http.Handler {
	ops := a.keyedOperations()
	var nextPurge atomic.Int64 // unix nanoseconds
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, present := r.Header[idemHeader]; !present {
			next.ServeHTTP(w, r)
			return
		}
		c, r, answered := a.keyedRequest(w, r, ops)
		if answered {
			return
		}
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		a.maybePurgeIdempotency(&nextPurge)
		if a.replayEarlier(w, r, c) {
			return
		}
		a.actOnce(w, r, c, next)
	})
}

// keyedRequest identifies a keyed request: its operator, key and request
// hash. It returns nil for a request the layer leaves to the handler (see
// above), and answered when it has answered the request itself (a
// malformed key). The request it returns carries the caller it verified.
func (a *API) keyedRequest(w http.ResponseWriter, r *http.Request, ops keyedOps) (*store.IdemCommit, *http.Request, bool) {
	op, known := ops.find(r)
	if !known {
		return nil, r, false
	}
	// Only an authenticated caller allowed to call the operation gets
	// this far; anyone else is the auth middleware's to answer.
	caller, ok := a.idemCaller(r.Context(), r, op.roles)
	if !ok {
		return nil, r, false
	}
	r = r.WithContext(context.WithValue(r.Context(), verifiedCallerKey{}, caller))
	vals := r.Header[idemHeader]
	if len(vals) != 1 || !validIdemKey(vals[0]) {
		writeProblem(w, http.StatusUnprocessableEntity,
			"Idempotency-Key must be one header of 1 to 255 printable ASCII characters")
		return nil, r, true
	}
	limit := op.maxBody
	if limit <= 0 {
		limit = idemDefaultMaxBody
	}
	body, err := readAll(r, limit)
	if err != nil || int64(len(body)) > limit {
		// Too large (or unreadable): the handler reads it again and
		// gives its own 413 or 400. Nothing is recorded.
		return nil, r, false
	}
	return &store.IdemCommit{OperatorID: caller.op.ID, Key: vals[0], Hash: idemHash(r, body),
		Now: a.store.Now(), TTL: a.cfg.IdempotencyTTL}, r, false
}

// replayEarlier answers a request whose key already has an answer (the
// first response, or a mismatch), with a read only, and reports whether it
// did. It also answers when the database cannot be read.
func (a *API) replayEarlier(w http.ResponseWriter, r *http.Request, c *store.IdemCommit) bool {
	ctx := r.Context()
	answer, err := a.store.LookupIdempotent(ctx, c.OperatorID, c.Key, c.Hash, c.Now, c.TTL)
	switch {
	case err == nil && answer == nil:
		return false
	case err == nil:
		writeIdemAnswer(w, answer)
	default:
		if errors.Is(ctx.Err(), context.Canceled) {
			err = fmt.Errorf("%w: %v", context.Canceled, err) // the client went away: 499
		}
		a.writeError(ctx, w, fmt.Errorf("idempotency key: %w", err))
	}
	return true
}

// actOnce runs the handler for a keyed request. The action claims the key
// and records its response in its own transaction; if the key turns out
// to be answered already (a concurrent repeat committed first), the
// handler's answer is dropped and the key's is sent instead. An outcome
// the action did not record (it changed nothing) is recorded afterwards.
func (a *API) actOnce(w http.ResponseWriter, r *http.Request, c *store.IdemCommit, next http.Handler) {
	ctx := r.Context()
	rec := &idemRecorder{ResponseWriter: w, drop: func() bool { return c.Answer() != nil }}
	next.ServeHTTP(rec, r.WithContext(store.WithIdemCommit(ctx, c)))
	if answer := c.Answer(); answer != nil {
		writeIdemAnswer(w, answer)
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if c.Recorded() && status < 300 {
		return // committed with the action
	}
	if !idemRecordable(status) || rec.overflow || !utf8.Valid(rec.body.Bytes()) || bytes.IndexByte(rec.body.Bytes(), 0) >= 0 {
		return // a retry acts afresh
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idemRecordTimeout)
	defer cancel()
	resp := store.IdemResponse{Status: status, ContentType: rec.contentType, Headers: rec.headers, Body: rec.body.Bytes()}
	if err := a.store.RecordIdempotent(rctx, c, resp); err != nil {
		// Nothing was changed, so a retry that acts afresh is safe.
		a.log.WarnContext(ctx, "idempotency key: record", slog.String("error", err.Error()))
	}
}

// writeIdemAnswer sends what a key already in use answers.
func writeIdemAnswer(w http.ResponseWriter, answer *store.IdemAnswer) {
	switch answer.State {
	case store.IdemMismatch:
		writeProblem(w, http.StatusUnprocessableEntity,
			"Idempotency-Key was already used with a different request; use a new key for a new request")
	case store.IdemInProgress:
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still in progress; retry later")
	default:
		resp := answer.Response
		h := w.Header()
		if resp.ContentType != "" {
			h.Set("Content-Type", resp.ContentType)
		}
		for k, v := range resp.Headers {
			h.Set(k, v)
		}
		h.Set(idemReplayed, "true")
		if len(resp.Body) > 0 {
			h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
		}
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	}
}

// idemCaller returns the operator a request acts for, if its bearer token is
// valid, the operator live and enabled, and its role one of roles: exactly
// the auth middleware's test, so that this layer never records anything for
// a request that will be refused.
//
// The caller it found is handed on in the request's context (verifiedCaller),
// so that the auth middleware does not look the same token up again.
func (a *API) idemCaller(ctx context.Context, r *http.Request, roles []review.Role) (*verifiedCaller, bool) {
	if a.issuer == nil || a.store == nil {
		return nil, false
	}
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, false
	}
	claims, err := a.issuer.Verify(token)
	if err != nil {
		return nil, false
	}
	op, err := a.store.Authenticate(ctx, claims.OperatorID(), claims.ID, claims.Epoch)
	if err != nil || !allowed(roles, op.Role) {
		return nil, false
	}
	return &verifiedCaller{token: token, op: op, claims: claims}, true
}

// verifiedCaller is a bearer token already verified, with its operator
// found live and enabled, earlier in the same request.
type verifiedCaller struct {
	token  string
	op     *review.Operator
	claims auth.Claims
}

type verifiedCallerKey struct{}

// validIdemKey: 1–255 printable ASCII characters.
func validIdemKey(k string) bool {
	if len(k) == 0 || len(k) > idemMaxKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idemHash identifies a request: method, path and query, If-Match (it
// changes what the request does) and the body, byte for byte.
func idemHash(r *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, r.Method)
	h.Write([]byte{0})
	io.WriteString(h, r.URL.EscapedPath())
	h.Write([]byte{0})
	io.WriteString(h, r.URL.RawQuery)
	h.Write([]byte{0})
	io.WriteString(h, r.Header.Get("If-Match"))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idemRecordable reports whether a response is the request's outcome, to be
// replayed, rather than something a retry should get a fresh answer to.
func idemRecordable(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests, 499:
		return false
	}
	return status >= 200 && status < 500
}

// maybePurgeIdempotency forgets expired keys, at most once a minute per API,
// in the background. It is opportunistic: keys only need to be kept at least
// the TTL (BeginIdempotent already treats older ones as unused), so a purge
// that is late or fails costs only disk space.
func (a *API) maybePurgeIdempotency(nextPurge *atomic.Int64) {
	now := time.Now()
	n := nextPurge.Load()
	if now.UnixNano() < n || !nextPurge.CompareAndSwap(n, now.Add(idemPurgeEvery).UnixNano()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		deleted, err := a.store.PurgeIdempotency(ctx, a.store.Now().Add(-a.cfg.IdempotencyTTL))
		if err != nil {
			a.log.WarnContext(ctx, "purge idempotency keys", slog.String("error", err.Error()))
			return
		}
		if deleted > 0 {
			a.log.InfoContext(ctx, "purged idempotency keys", slog.Int64("deleted", deleted))
		}
	}()
}

// idemRecorder passes a response through while keeping a copy of its
// status, replayable headers and body; when drop says so as the response
// begins, it passes nothing (the key's own answer is sent instead).
type idemRecorder struct {
	http.ResponseWriter
	drop        func() bool
	dropped     bool
	status      int
	contentType string
	headers     map[string]string
	body        bytes.Buffer
	overflow    bool
}

func (r *idemRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 && r.drop() {
		r.dropped = true
	}
	if r.dropped {
		if r.status == 0 && code >= 200 {
			r.status = code
		}
		return
	}
	if r.status == 0 && code >= 200 {
		r.status = code
		h := r.ResponseWriter.Header()
		r.contentType = h.Get("Content-Type")
		for _, k := range idemReplayHeaders {
			if v := h.Get(k); v != "" {
				if r.headers == nil {
					r.headers = map[string]string{}
				}
				r.headers[k] = v
			}
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *idemRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.dropped {
		return len(b), nil
	}
	if !r.overflow {
		if r.body.Len()+len(b) > idemMaxResponse {
			r.overflow = true
			r.body = bytes.Buffer{}
		} else {
			r.body.Write(b)
		}
	}
	return r.ResponseWriter.Write(b)
}

func (r *idemRecorder) Flush() {
	if r.dropped {
		return
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *idemRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// recordInTx asks the action called next with ctx to record its response to
// a keyed request in its own transaction (store.IdemCommit): the response
// has status, and body turns the action's result into its body exactly as
// the handler will return it (nil: no body). Without an Idempotency-Key it
// does nothing.
func recordInTx(ctx context.Context, status int, body func(result ...any) any) {
	c := store.IdemCommitFrom(ctx)
	if c == nil {
		return
	}
	c.Render = func(result ...any) (store.IdemResponse, error) {
		if body == nil {
			return store.IdemResponse{Status: status}, nil
		}
		var buf bytes.Buffer
		if err := jsonFormat.Marshal(&buf, body(result...)); err != nil {
			return store.IdemResponse{}, err
		}
		return store.IdemResponse{Status: status, ContentType: "application/json", Body: buf.Bytes()}, nil
	}
}
