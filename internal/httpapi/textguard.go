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
