package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/logging"
	"github.com/spendsense/operator-api/internal/review"
)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush keeps streaming responses (the audit export) streaming.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe gives every request an id (kept from X-Request-ID when sane),
// recovers panics as a bare 500, logs one line per request and records the
// request metrics by route pattern (never by raw path, which would explode
// the label set).
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < '!' || c > '~' }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		ctx := logging.WithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, sourceKey{}, clientAddress(r))
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("panic: %v", p)
				if rec.status == 0 {
					a.writeError(ctx, rec, err) // a 500, logged like every internal error
				} else {
					a.log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			route := a.route(r)
			method := methodLabel(r.Method)
			elapsed := time.Since(start)
			a.metrics.requests.WithLabelValues(route, method, strconv.Itoa(rec.status)).Inc()
			a.metrics.latency.WithLabelValues(route, method).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			switch {
			case rec.status == http.StatusServiceUnavailable:
				level = slog.LevelWarn // shed or the database in trouble: logged where it was decided
			case rec.status >= 500:
				level = slog.LevelError
			}
			a.log.Log(ctx, level, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("route", route), slog.Int("status", rec.status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
		}()
		next.ServeHTTP(rec, r)
	})
}

// route is the metrics label for r: the pattern of the operation it was
// (or, when it was answered before reaching the mux, would have been)
// served by, or "unmatched". Raw paths would make a series per id.
func (a *API) route(r *http.Request) string {
	pattern := r.Pattern
	if pattern == "" && a.mux != nil {
		// Refused before routing (shed with 503, body too slow or large):
		// count it under the route it asked for.
		_, pattern = a.mux.Handler(r)
		if pattern == "GET /" && r.URL.Path != "/" {
			pattern = "" // the catch-all: no such path
		}
	}
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	return pattern
}

// methodLabel keeps the metrics' method label to a fixed set: the method is
// whatever the client sent, and 3,000 requests with made-up methods once
// added 48,000 series that were never released.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// writeProblem writes a problem+json body outside huma (panics, the
// idempotency layer).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"title":` + strconv.Quote(http.StatusText(status)) + `,"status":` + strconv.Itoa(status) +
		`,"detail":` + strconv.Quote(detail) + "}\n"))
}

// problemFallback makes the mux's own answers problem+json like every
// other error: a path that does not exist is a 404 whatever the method,
// and a path that exists with other methods a 405 with Allow, instead of
// the mux's plain text. "GET /" is a catch-all pattern in net/http (it
// made every unknown path "exist" for GET, so a POST there was a 405):
// it counts only for the root path itself.
func problemFallback(mux *http.ServeMux) http.Handler {
	routed := func(r *http.Request) bool {
		_, p := mux.Handler(r)
		return p != "" && (p != "GET /" || r.URL.Path == "/")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if routed(r) {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if routed(probe) {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; it answers "+strings.Join(allow, ", "))
			return
		}
		writeProblem(w, http.StatusNotFound, "no endpoint at "+r.URL.Path+"; see /docs")
	})
}

type sourceKey struct{}

// sourceFrom is the address the request came from (observe puts it in the
// context), for the login throttle.
func sourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// clientAddress is the connection's remote IP address. Headers such as
// X-Forwarded-For are not believed: anyone can send them. Behind a proxy
// every client shares the proxy's address, and so its login allowance.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type actorKey struct{}

// actorFrom returns the operator the auth middleware verified.
func actorFrom(ctx context.Context) review.Actor {
	a, _ := ctx.Value(actorKey{}).(review.Actor)
	return a
}

type tokenKey struct{}

// tokenInfo is the verified token, for logout.
type tokenInfo struct {
	jti string
	exp time.Time
}

// authenticate enforces the access table: a valid bearer token of a live,
// enabled operator whose role the operation allows. The acting operator is
// only ever taken from here.
func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	roles, ok := ctx.Operation().Metadata["roles"].([]review.Role)
	if !ok {
		next(ctx)
		return
	}
	var op *review.Operator
	var tok tokenInfo
	var status int
	var msg string
	if v := verifiedBefore(ctx.Context(), ctx.Header("Authorization")); v != nil {
		// The idempotency layer has just checked this very token.
		op, tok = v.op, tokenInfo{jti: v.claims.ID, exp: v.claims.Expiry()}
	} else {
		op, tok, status, msg = a.verifyBearer(ctx.Context(), ctx.Header("Authorization"))
	}
	switch status {
	case http.StatusUnauthorized:
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="spendsense"`)
	case http.StatusServiceUnavailable:
		ctx.SetHeader("Retry-After", retryAfterUnavailable)
	}
	if status != 0 {
		_ = huma.WriteErr(a.huma, ctx, status, msg)
		return
	}
	if !allowed(roles, op.Role) {
		_ = huma.WriteErr(a.huma, ctx, http.StatusForbidden,
			"role "+string(op.Role)+" may not call this operation; it needs one of: "+strings.Join(roleNames(roles), ", "))
		return
	}
	c := context.WithValue(ctx.Context(), actorKey{}, review.Actor{ID: op.ID, Role: op.Role})
	c = context.WithValue(c, tokenKey{}, tok)
	next(huma.WithContext(ctx, c))
}

// verifiedBefore returns the caller the idempotency layer verified earlier
// in this request, if it did so for the token in header.
func verifiedBefore(ctx context.Context, header string) *verifiedCaller {
	v, ok := ctx.Value(verifiedCallerKey{}).(*verifiedCaller)
	if !ok {
		return nil
	}
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) != v.token {
		return nil
	}
	return v
}

// verifyBearer checks an Authorization header: a valid bearer token of a
// live, enabled operator. On failure it returns the status to answer (401,
// or what problem makes of a failed lookup) and the detail.
func (a *API) verifyBearer(ctx context.Context, header string) (*review.Operator, tokenInfo, int, string) {
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, tokenInfo{}, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token> from POST /api/auth/login"
	}
	claims, err := a.issuer.Verify(strings.TrimSpace(token))
	if err != nil {
		return nil, tokenInfo{}, http.StatusUnauthorized, "invalid or expired token"
	}
	op, err := a.store.Authenticate(ctx, claims.OperatorID(), claims.ID, claims.Epoch)
	if err != nil {
		if review.ErrorCode(err) != review.EInternal {
			return nil, tokenInfo{}, http.StatusUnauthorized, "token revoked or operator disabled"
		}
		// The lookup itself failed: the client went away (499), the
		// database is in trouble (503; the caller adds Retry-After) or a
		// bug (500). The one error mapper decides, and logs.
		var p *Problem // what problem answers with (installErrorModel)
		errors.As(a.problem(ctx, fmt.Errorf("authenticate: %w", err)), &p)
		return nil, tokenInfo{}, p.Status, p.Detail
	}
	return op, tokenInfo{jti: claims.ID, exp: claims.Expiry()}, 0, ""
}
