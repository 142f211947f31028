package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Bodies first, capacity second.
//
// The in-flight bounds (overload.go) reserve a slot for each write. If the
// slot were taken before the body had arrived, a client could hold it for as
// long as the server's read timeout by sending its body a byte a second:
// 300 such logins answered every other login and action with 503, without a
// token. So readBodyFirst, outside the bounds, reads the whole body into
// memory within bodyDeadline (bodies are at most 1 MiB, ingest batches
// 8 MiB; a slow client holds only the bytes it has sent) and only then
// passes the request on. The headers have the server's ReadHeaderTimeout.
//
// It also gives every response a write deadline (responseDeadline): a
// client that stops reading cannot keep a handler, and whatever it holds,
// waiting on a full socket forever. Streaming responses set their own
// rolling deadline per chunk (the audit export); the live stream
// (liveStreamPath) is exempt here and is responsible for its own (a stream
// that does not keep up is disconnected).

const (
	// bodyDeadline is how long a request's body may take to arrive.
	bodyDeadline = 20 * time.Second
	// responseDeadline is how long a response may take to be written,
	// counted from the request's arrival.
	responseDeadline = 60 * time.Second
	// liveStreamPath: the long-lived event stream, which manages its own
	// write deadline per event.
	liveStreamPath = "/api/realtime/stream"
	// maxBody and maxIngestBody are the largest bodies read at all; the
	// operations' own limits (huma's MaxBodyBytes) are the same or smaller.
	maxBody       = 1 << 20
	maxIngestBody = ingestMaxBody
)

// streaming reports the responses that may legitimately last longer than
// responseDeadline and requestTimeout: the live stream and the audit
// export. They bound each database call and each write themselves.
func streaming(path string) bool {
	return path == liveStreamPath || path == exportPath
}

func readBodyFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if !streaming(r.URL.Path) {
			_ = rc.SetWriteDeadline(time.Now().Add(responseDeadline))
		}
		bw := &bodyInWriter{ResponseWriter: w}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(bw, r)
			return
		}
		limit := int64(maxBody)
		if strings.HasPrefix(r.URL.Path, "/api/ingest/") {
			limit = maxIngestBody
		}
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			writeProblem(w, http.StatusRequestEntityTooLarge, "request body is larger than "+byteSize(limit))
			return
		}
		_ = rc.SetReadDeadline(time.Now().Add(bodyDeadline))
		var body []byte
		var err error
		if r.ContentLength > 0 {
			body = make([]byte, r.ContentLength)
			_, err = io.ReadFull(r.Body, body)
		} else {
			body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		}
		_ = rc.SetReadDeadline(time.Time{})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			writeProblem(w, http.StatusRequestTimeout, "the request body did not arrive within "+bodyDeadline.String()+"; nothing was done")
			return
		case err != nil:
			w.Header().Set("Connection", "close")
			writeProblem(w, http.StatusBadRequest, "the request body could not be read; nothing was done")
			return
		case int64(len(body)) > limit:
			w.Header().Set("Connection", "close")
			writeProblem(w, http.StatusRequestEntityTooLarge, "request body is larger than "+byteSize(limit))
			return
		}
		_ = r.Body.Close()
		r.Body = newMemBody(body)
		next.ServeHTTP(bw, r)
	})
}

// withDeadline bounds the time a request may spend in the server after its
// body has arrived, database calls included (Config.RequestTimeout), so
// that a database that stops answering (a frozen PostgreSQL held every
// request for 30 s) costs each client that long and a 503, not a hang.
// Streaming responses bound each of their database calls instead.
func withDeadline(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streaming(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func byteSize(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// memBody is a request body already read into memory. Layers that need the
// bytes (checkBody, the idempotency layer) take them without copying.
type memBody struct {
	*bytes.Reader
	b []byte
}

func newMemBody(b []byte) *memBody { return &memBody{Reader: bytes.NewReader(b), b: b} }

func (*memBody) Close() error { return nil }

// readAll returns the rest of r's body, at most limit+1 bytes, and puts an
// unread copy back in its place. A body readBodyFirst has already read is
// not copied.
func readAll(r *http.Request, limit int64) ([]byte, error) {
	if m, ok := r.Body.(*memBody); ok && m.Len() == len(m.b) {
		r.Body = newMemBody(m.b)
		if int64(len(m.b)) > limit {
			return m.b[:limit+1], nil
		}
		return m.b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(b)) > limit {
		// Unreadable or too large: whoever reads next sees the same bytes
		// and the rest of the stream, and answers (400 or 413).
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		return b, err
	}
	r.Body = newMemBody(b)
	return b, nil
}

// bodyInWriter ignores read deadlines: the body is in, and net/http has
// started its background read of the connection (to notice a client going
// away). huma sets a body-read deadline of its own anyway; reaching the
// connection, it would fire on that background read, which net/http takes
// for a dead client, cancelling the request's context: any action still
// running 5 s after its body arrived (a large bulk approval under load)
// was cut off with 499.
type bodyInWriter struct {
	http.ResponseWriter
}

func (*bodyInWriter) SetReadDeadline(time.Time) error { return nil }

func (w *bodyInWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *bodyInWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
