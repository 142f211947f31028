// Package auditproof is the arithmetic of the tamper-evident audit trail:
// the canonical encoding and hash of an audit row, the per-subject hash
// chains, the Merkle root a seal signs, and the verification of all of them.
// It knows nothing of databases, so the same code checks the live database
// (through the store) and an export file offline: an auditor's verdict does
// not depend on our server. docs/RELIABILITY.md describes the formats.
package auditproof

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// TimeLayout is the one text form of a timestamp in every hash: UTC to the
// microsecond, the precision both engines store.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// rowVersion starts every row's canonical encoding, so a later format can
// be told apart.
const rowVersion = "spendsense-audit-v1"

// Row is one audit row with its chain fields.
type Row struct {
	AuditID          string
	OperatorID       string
	Action           string
	RecommendationID string // "" for a row about no recommendation
	Metadata         []byte // JSON object, in any formatting
	Timestamp        time.Time
	PrevHash         string // hex; "" for the first row of its subject
	RowHash          string // hex, as stored
	SealID           int64  // 0: not sealed yet
}

// Subject is the chain a row belongs to: its recommendation; for a row
// about no recommendation, the operator it administers (metadata
// "target_operator_id"); otherwise a chain per action (vocabulary changes).
func Subject(recommendationID string, metadata []byte) string {
	if recommendationID != "" {
		return "recommendation:" + recommendationID
	}
	var m struct {
		Target string `json:"target_operator_id"`
	}
	if json.Unmarshal(metadata, &m) == nil && m.Target != "" {
		return "operator:" + m.Target
	}
	return ""
}

// SubjectOf is Subject for a row, with the per-action fallback.
func SubjectOf(r Row) string {
	if s := Subject(r.RecommendationID, r.Metadata); s != "" {
		return s
	}
	return "action:" + r.Action
}

// Canonical is the byte string a row's hash covers: a JSON array of the
// format name, every field of the row (metadata canonicalised, see
// CanonicalJSON) and the previous row's hash.
func Canonical(r Row) ([]byte, error) {
	meta, err := CanonicalJSON(r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("audit row %s: metadata: %w", r.AuditID, err)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	writeString(&b, rowVersion)
	for _, s := range []string{r.AuditID, r.OperatorID, r.Action} {
		b.WriteByte(',')
		writeString(&b, s)
	}
	b.WriteByte(',')
	if r.RecommendationID == "" {
		b.WriteString("null")
	} else {
		writeString(&b, r.RecommendationID)
	}
	b.WriteByte(',')
	b.Write(meta)
	b.WriteByte(',')
	writeString(&b, r.Timestamp.UTC().Format(TimeLayout))
	b.WriteByte(',')
	writeString(&b, r.PrevHash)
	b.WriteByte(']')
	return b.Bytes(), nil
}

// Hash is the hex SHA-256 of a row's canonical encoding.
func Hash(r Row) (string, error) {
	c, err := Canonical(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// CanonicalJSON re-encodes a JSON document so that equal documents have
// equal bytes whatever wrote them: PostgreSQL's jsonb reorders keys,
// changes spacing and rewrites numbers (1.50 stays, 1e2 becomes 100).
// Objects' keys are sorted by their UTF-8 bytes (a repeated key keeps its
// last value, as jsonb does), there is no whitespace, strings are written
// as encoding/json writes them without HTML escaping, and numbers as their
// exact decimal value with no exponent and no trailing zeros ("100",
// "0.1", "-2.5"). Empty input is the empty object.
func CanonicalJSON(doc []byte) ([]byte, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return []byte("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	var b bytes.Buffer
	if err := writeValue(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeString(b, x)
	case json.Number:
		s, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeValue(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// canonicalNumber is a JSON number's exact value in plain decimal. The
// exponent is bounded so that a hostile document cannot make it print a
// million digits.
func canonicalNumber(lit string) (string, error) {
	if i := strings.IndexAny(lit, "eE"); i >= 0 && len(strings.TrimLeft(lit[i+1:], "+-0")) > 3 {
		return "", fmt.Errorf("number %s is out of range", lit)
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return "", fmt.Errorf("bad number %q", lit)
	}
	if r.IsInt() {
		return r.Num().String(), nil
	}
	// A JSON number's denominator is 2^a·5^b: max(a, b) decimals are exact.
	d := new(big.Int).Set(r.Denom())
	twos := d.TrailingZeroBits()
	d.Rsh(d, twos)
	fives := uint(0)
	five, rem := big.NewInt(5), new(big.Int)
	for d.Cmp(big.NewInt(1)) != 0 {
		q, m := new(big.Int).QuoRem(d, five, rem)
		if m.Sign() != 0 {
			return "", fmt.Errorf("bad number %q", lit)
		}
		d = q
		fives++
	}
	return r.FloatString(int(max(twos, fives))), nil
}
