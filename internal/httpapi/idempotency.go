package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
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
// A POST (or PATCH) action under /api/operator or /api/ingest that carries
// an Idempotency-Key header is run at most once per (operator, key): a
// repeat with the same request gets the first response back (status, body,
// Content-Type, ETag, Location, plus Idempotent-Replayed: true) without the
// handler running; a repeat with a different request under the same key is
// 422; a repeat while the first is still running is 409. The record is a row
// in the shared database (store.BeginIdempotent), so this holds across
// restarts and across processes on one PostgreSQL.
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
	idemReleaseTimeout = 2 * time.Second
)

// idemReplayHeaders are the response headers recorded beside Content-Type.
var idemReplayHeaders = []string{"ETag", "Location"}

// idempotency replays the first response to a repeated Idempotency-Key.
func (a *API) idempotency(next http.Handler) http.Handler {
	// The idempotent operations (POST and PATCH under the access table), by
	// their ServeMux pattern, and a mux of those patterns alone that finds
	// which one a request is for exactly as the real mux will. New
	// registers every operation before wrapping the mux in this layer.
	type idemOp struct {
		roles   []review.Role
		maxBody int64
	}
	ops := map[string]idemOp{}
	lookup := http.NewServeMux()
	if a.huma != nil {
		for path, item := range a.huma.OpenAPI().Paths {
			for _, op := range []*huma.Operation{item.Post, item.Patch} {
				if op == nil {
					continue
				}
				roles, ok := op.Metadata["roles"].([]review.Role)
				if !ok {
					continue
				}
				pattern := op.Method + " " + path
				ops[pattern] = idemOp{roles: roles, maxBody: op.MaxBodyBytes}
				lookup.Handle(pattern, http.NotFoundHandler())
			}
		}
	}
	var nextPurge atomic.Int64 // unix nanoseconds

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals, present := r.Header[idemHeader]
		if !present || (r.Method != http.MethodPost && r.Method != http.MethodPatch) ||
			!(strings.HasPrefix(r.URL.Path, "/api/operator/") || strings.HasPrefix(r.URL.Path, "/api/ingest/")) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		// Only an authenticated caller allowed to call the operation gets
		// this far; anyone else is the auth middleware's to answer.
		_, pattern := lookup.Handler(r)
		op, known := ops[pattern]
		if !known {
			next.ServeHTTP(w, r)
			return
		}
		caller, ok := a.idemCaller(ctx, r, op.roles)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		operator := caller.op.ID
		ctx = context.WithValue(ctx, verifiedCallerKey{}, caller)
		r = r.WithContext(ctx)
		if len(vals) != 1 || !validIdemKey(vals[0]) {
			writeProblem(w, http.StatusUnprocessableEntity,
				"Idempotency-Key must be one header of 1 to 255 printable ASCII characters")
			return
		}
		key := vals[0]

		limit := op.maxBody
		if limit <= 0 {
			limit = idemDefaultMaxBody
		}
		body, err := readAll(r, limit)
		if err != nil || int64(len(body)) > limit {
			// Too large (or unreadable): the handler reads it again and
			// gives its own 413 or 400. Nothing is recorded.
			next.ServeHTTP(w, r)
			return
		}

		a.maybePurgeIdempotency(&nextPurge)
		hash := idemHash(r, body)
		b, err := a.store.BeginIdempotent(ctx, operator, key, hash, a.store.Now(), a.cfg.IdempotencyTTL)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				writeProblem(w, 499, "request canceled") // the client went away
				return
			}
			if store.Unavailable(err) {
				a.log.WarnContext(ctx, "idempotency key: database unavailable", slog.String("error", err.Error()))
				writeUnavailable(w)
				return
			}
			a.log.ErrorContext(ctx, "idempotency key", slog.String("error", err.Error()))
			writeProblem(w, http.StatusInternalServerError, "internal error")
			return
		}
		switch b.State {
		case store.IdemMismatch:
			writeProblem(w, http.StatusUnprocessableEntity,
				"Idempotency-Key was already used with a different request; use a new key for a new request")
			return
		case store.IdemInProgress:
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still in progress; retry later")
			return
		case store.IdemDone:
			h := w.Header()
			h.Set("Content-Type", b.Response.ContentType)
			for k, v := range b.Response.Headers {
				h.Set(k, v)
			}
			h.Set(idemReplayed, "true")
			h.Set("Content-Length", strconv.Itoa(len(b.Response.Body)))
			w.WriteHeader(b.Response.Status)
			_, _ = w.Write(b.Response.Body)
			return
		}
		if b.Expired || b.TookOver {
			a.log.InfoContext(ctx, "idempotency key reused", slog.Bool("expired", b.Expired), slog.Bool("took_over", b.TookOver))
		}

		// The actions that support it record the response in their own
		// transaction (store.IdemCommit); for the others it is recorded
		// below, after the handler.
		commit := &store.IdemCommit{OperatorID: operator, Key: key, Started: b.Started}
		r = r.WithContext(store.WithIdemCommit(ctx, commit))
		rec := &idemRecorder{ResponseWriter: w}
		// Whatever happens below (even a panic), the claim must not outlive
		// this request; the client may have gone, so use a context that
		// survives it.
		// With the database in trouble the release may fail; it is kept
		// short so the client hears its 503 soon, and the claim's lease
		// (store.IdempotencyLease) lets a retry take the key over anyway.
		done := false
		defer func() {
			if done {
				return
			}
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), idemReleaseTimeout)
			defer cancel()
			if err := a.store.ReleaseIdempotent(c, operator, key, b.Started); err != nil {
				a.log.WarnContext(ctx, "idempotency key: release", slog.String("error", err.Error()))
				// Keep trying in the background, so that a retry after the
				// database is back acts at once instead of waiting out the
				// lease.
				go a.retryRelease(context.WithoutCancel(ctx), operator, key, b.Started)
			}
		}()
		next.ServeHTTP(rec, r)

		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status == http.StatusOK && commit.Recorded() {
			done = true // committed with the action
			return
		}
		if !idemRecordable(status) || rec.overflow || !utf8.Valid(rec.body.Bytes()) || bytes.IndexByte(rec.body.Bytes(), 0) >= 0 {
			return // the deferred release lets a retry act
		}
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		resp := store.IdemResponse{Status: status, ContentType: rec.contentType, Headers: rec.headers, Body: rec.body.Bytes()}
		if _, err := a.store.FinishIdempotent(c, operator, key, b.Started, resp); err != nil {
			a.log.ErrorContext(ctx, "idempotency key: record", slog.String("error", err.Error()))
			return // release, so the key is not stuck in progress
		}
		done = true
	})
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
	op     *store.Operator
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
// status, replayable headers and body.
type idemRecorder struct {
	http.ResponseWriter
	status      int
	contentType string
	headers     map[string]string
	body        bytes.Buffer
	overflow    bool
}

func (r *idemRecorder) WriteHeader(code int) {
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
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *idemRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// recordInTx asks the action called next with ctx to record its response to
// a keyed request in its own transaction (store.IdemCommit): body turns the
// action's result into the response body, exactly as the handler will
// return it. Without an Idempotency-Key it does nothing.
func recordInTx(ctx context.Context, body func(result ...any) any) {
	c := store.IdemCommitFrom(ctx)
	if c == nil {
		return
	}
	c.Render = func(result ...any) (store.IdemResponse, error) {
		var buf bytes.Buffer
		if err := jsonFormat.Marshal(&buf, body(result...)); err != nil {
			return store.IdemResponse{}, err
		}
		return store.IdemResponse{Status: http.StatusOK, ContentType: "application/json", Body: buf.Bytes()}, nil
	}
}

// retryRelease tries once a second, for as long as the claim's lease, to
// give back a key whose release failed (the database was in trouble).
func (a *API) retryRelease(ctx context.Context, operator, key string, started time.Time) {
	for end := time.Now().Add(store.IdempotencyLease); time.Now().Before(end); {
		time.Sleep(time.Second)
		c, cancel := context.WithTimeout(ctx, idemReleaseTimeout)
		err := a.store.ReleaseIdempotent(c, operator, key, started)
		cancel()
		if err == nil {
			return
		}
	}
}
