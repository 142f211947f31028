package seed

import (
	"strconv"
	"unicode/utf8"
)

// jw writes JSON by hand: the seed makes several documents per row, and a
// small appender is several times faster than encoding/json. Keys are written
// in the order given, so the output is byte-for-byte deterministic. Strings
// are escaped exactly as encoding/json escapes them, so a document written
// with sorted keys is already in the store's canonical form.
type jw struct {
	b     []byte
	comma bool
}

func (j *jw) sep() {
	if j.comma {
		j.b = append(j.b, ',')
	}
}

func (j *jw) open() *jw  { j.sep(); j.b = append(j.b, '{'); j.comma = false; return j }
func (j *jw) close() *jw { j.b = append(j.b, '}'); j.comma = true; return j }
func (j *jw) arr() *jw   { j.sep(); j.b = append(j.b, '['); j.comma = false; return j }
func (j *jw) end() *jw   { j.b = append(j.b, ']'); j.comma = true; return j }

func (j *jw) key(k string) *jw {
	j.sep()
	j.b = appendJSONString(j.b, k)
	j.b = append(j.b, ':')
	j.comma = false
	return j
}

func (j *jw) str(v string) *jw { j.sep(); j.b = appendJSONString(j.b, v); j.comma = true; return j }
func (j *jw) num(v float64) *jw {
	j.sep()
	j.b = strconv.AppendFloat(j.b, v, 'f', -1, 64)
	j.comma = true
	return j
}
func (j *jw) int(v int) *jw {
	j.sep()
	j.b = strconv.AppendInt(j.b, int64(v), 10)
	j.comma = true
	return j
}
func (j *jw) bool(v bool) *jw {
	j.sep()
	j.b = strconv.AppendBool(j.b, v)
	j.comma = true
	return j
}
func (j *jw) null() *jw { j.sep(); j.b = append(j.b, "null"...); j.comma = true; return j }

// strOrNull writes v, or null when v is empty.
func (j *jw) strOrNull(v string) *jw {
	if v == "" {
		return j.null()
	}
	return j.str(v)
}

// raw appends an already-encoded JSON value.
func (j *jw) raw(v string) *jw { j.sep(); j.b = append(j.b, v...); j.comma = true; return j }

func (j *jw) String() string { return string(j.b) }

// reset empties the buffer for reuse.
func (j *jw) reset() *jw { j.b = j.b[:0]; j.comma = false; return j }

func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexd[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
