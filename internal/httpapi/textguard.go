package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// checkBody refuses, before huma decodes it, a JSON request body that is
// well-formed enough for encoding/json to accept but that no client can mean,
// PostgreSQL could not store, or that would cost far more memory decoded
// than it took to send:
//
//   - bytes that are not UTF-8 (RFC 8259 requires it; encoding/json would
//     quietly turn them into U+FFFD): 400, malformed;
//   - more JSON values than any request to the operation needs, or nesting
//     deeper than maxJSONDepth (422): decoded into Go values each element
//     of [0,0,0,…] costs some 50 bytes, so a 1 MiB body of them held ~28 MiB
//     through huma's validation and 64 at once took the server to 1.85 GiB;
//   - a NUL character (\u0000) in any string or key (PostgreSQL's text
//     cannot hold one; SQLite could, so the two engines would disagree):
//     422 naming the field;
//   - a number too large for any field (1e400 overflows float64, which
//     huma reports as a 400 although the JSON is well-formed): 422.
//
// The checks walk the bytes without decoding them. Everything else,
// including malformed JSON, is left to huma. It runs after authenticate,
// so a caller without a token still gets 401 first.
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
	body, err := readAll(r, op.MaxBodyBytes)
	if err != nil || int64(len(body)) > op.MaxBodyBytes {
		next(ctx) // unreadable or too large: huma reads it again and answers (400, 413)
		return
	}
	if len(body) == 0 {
		next(ctx)
		return
	}
	if !utf8.Valid(body) {
		_ = huma.WriteErr(a.huma, ctx, http.StatusBadRequest, "request body is not valid UTF-8 JSON")
		return
	}
	if !json.Valid(body) {
		next(ctx) // malformed: huma answers 400 (it too validates before building anything)
		return
	}
	maxValues := maxJSONValues
	if op.MaxBodyBytes > 1<<20 {
		maxValues = maxBulkJSONValues
	}
	shape := scanJSON(body, maxValues)
	switch {
	case shape.tooMany:
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "the body holds more than "+
			strconv.Itoa(maxValues)+" JSON values, more than any request to this operation needs",
			&huma.ErrorDetail{Location: "body", Message: "too many values"})
		return
	case shape.tooDeep:
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "the body nests deeper than "+
			strconv.Itoa(maxJSONDepth)+" levels, more than any request to this operation needs",
			&huma.ErrorDetail{Location: "body", Message: "nested too deep"})
		return
	case shape.outOfRange:
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "validation failed",
			&huma.ErrorDetail{Location: "body", Message: "a number is out of range"})
		return
	case shape.nul:
		// Rare: decode (bounded by the checks above) to name the field.
		var v any
		_ = json.Unmarshal(body, &v)
		where := findNUL(v, "body")
		if where == "" {
			break
		}
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnprocessableEntity, "validation failed",
			&huma.ErrorDetail{Location: where, Message: "text must not contain NUL (\\u0000) characters"})
		return
	}
	next(ctx)
}

const (
	// maxJSONValues bounds the values (objects, arrays, keys, strings,
	// numbers, literals) in a body of up to 1 MiB: a full bulk approval is
	// ~1,000; a claim or an action, a handful.
	maxJSONValues = 16 << 10
	// maxBulkJSONValues is the bound for ingest batches (8 MiB): 1,000
	// recommendations with their traces are ~100 values each.
	maxBulkJSONValues = 256 << 10
	// maxJSONDepth: the deepest body the contract describes (an ingest
	// trace's signals) nests 5 levels.
	maxJSONDepth = 64
)

// jsonShape is what scanJSON found.
type jsonShape struct {
	tooMany, tooDeep, outOfRange, nul bool
}

// scanJSON walks a body that json.Valid accepted, counting its values and
// depth, and noting \u0000 escapes and numbers that overflow float64. It
// stops at the first bound crossed.
func scanJSON(b []byte, maxValues int) jsonShape {
	var out jsonShape
	values, depth := 0, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			values++
			if depth++; depth > maxJSONDepth {
				out.tooDeep = true
				return out
			}
		case '}', ']':
			depth--
		case '"':
			values++
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
					if b[i] == 'u' && i+4 < len(b) && string(b[i+1:i+5]) == "0000" {
						out.nul = true
					}
				}
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			values++
			j := i
			for j < len(b) && strings.IndexByte("+-.eE0123456789", b[j]) >= 0 {
				j++
			}
			if _, err := strconv.ParseFloat(string(b[i:j]), 64); err != nil {
				out.outOfRange = true
			}
			i = j - 1
		case 't', 'f', 'n':
			values++
			for i+1 < len(b) && b[i+1] >= 'a' && b[i+1] <= 'z' {
				i++
			}
		}
		if values > maxValues {
			out.tooMany = true
			return out
		}
	}
	return out
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
