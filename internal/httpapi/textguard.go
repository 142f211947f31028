package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// checkBody refuses, before huma decodes it, a JSON request body that is
// well-formed enough for encoding/json to accept but that no client can mean
// and PostgreSQL could not store:
//
//   - bytes that are not UTF-8 (RFC 8259 requires it; encoding/json would
//     quietly turn them into U+FFFD): 400, malformed;
//   - a NUL character (\u0000) in any string or key (PostgreSQL's text
//     cannot hold one; SQLite could, so the two engines would disagree):
//     422 naming the field;
//   - a number too large for any field (1e400 overflows float64, which
//     huma reports as a 400 although the JSON is well-formed): 422.
//
// Everything else, including malformed JSON, is left to huma. It runs after
// authenticate, so a caller without a token still gets 401 first.
func (a *API) checkBody(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	if op.RequestBody == nil || op.SkipValidateBody || op.MaxBodyBytes <= 0 {
		next(ctx)
		return
	}
	if ct := ctx.Header("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		next(ctx) // huma answers 415
		return
	}
	r, _ := humago.Unwrap(ctx)
	body, err := io.ReadAll(io.LimitReader(r.Body, op.MaxBodyBytes+1))
	if err != nil || int64(len(body)) > op.MaxBodyBytes {
		// Unreadable or too large: huma reads the rest and answers (413).
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		next(ctx)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) == 0 {
		next(ctx)
		return
	}
	if !utf8.Valid(body) {
		_ = huma.WriteErr(a.huma, ctx, http.StatusBadRequest, "request body is not valid UTF-8 JSON")
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "validation failed",
				&huma.ErrorDetail{Location: "body", Message: "a number is out of range: " + te.Value})
			return
		}
		next(ctx) // malformed: huma answers 400
		return
	}
	if where := findNUL(v, "body"); where != "" {
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "validation failed",
			&huma.ErrorDetail{Location: where, Message: "text must not contain NUL (\\u0000) characters"})
		return
	}
	next(ctx)
}

// findNUL returns the location of the first string or key holding a NUL.
func findNUL(v any, at string) string {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return at
		}
	case []any:
		for i, e := range x {
			if w := findNUL(e, at+"["+strconv.Itoa(i)+"]"); w != "" {
				return w
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.IndexByte(k, 0) >= 0 {
				return at
			}
			if w := findNUL(x[k], at+"."+k); w != "" {
				return w
			}
		}
	}
	return ""
}

// keepBodyDeadlines stops a read deadline set after the request body has
// been read to its end from reaching the connection.
//
// Once a handler has read the whole body, net/http starts a background read
// on the connection (to notice the client going away) and clears the read
// deadline for it. checkBody and the idempotency layer read the body before
// huma does; huma then sets its body-read deadline (5 s) anyway, which would
// land on that background read: when it fired, net/http would take the
// timeout for a dead client and cancel the request's context, so any action
// still running 5 s after its body arrived (a large bulk approval under
// load) would be cut off with 499. A deadline has nothing left to guard
// once the body is in, so it is dropped; before that it passes through.
func keepBodyDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &eofBody{ReadCloser: r.Body}
		r.Body = b
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, body: b}, r)
	})
}

// eofBody notes when the request body has been read to its end.
type eofBody struct {
	io.ReadCloser
	eof atomic.Bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// deadlineWriter drops read deadlines once the body is in.
type deadlineWriter struct {
	http.ResponseWriter
	body *eofBody
}

func (w *deadlineWriter) SetReadDeadline(d time.Time) error {
	if w.body.eof.Load() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(d)
}

func (w *deadlineWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
