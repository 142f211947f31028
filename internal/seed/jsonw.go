package seed

import (
	"strconv"

	"github.com/spendsense/operator-api/internal/jsontext"
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
	j.b = jsontext.AppendStringHTML(j.b, k)
	j.b = append(j.b, ':')
	j.comma = false
	return j
}

func (j *jw) str(v string) *jw {
	j.sep()
	j.b = jsontext.AppendStringHTML(j.b, v)
	j.comma = true
	return j
}
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
