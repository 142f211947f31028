package review

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// IngestRecommendation is one recommendation pushed by the engine. Its
// JSON, in canonical form, is what ContentHash hashes: the json tags are
// part of the hash, and the seeder writes the same bytes by hand.
type IngestRecommendation struct {
	ID               string       `json:"id"`
	UserID           string       `json:"user_id"`
	PersonaPrimary   string       `json:"persona_primary"`
	PersonaSecondary *string      `json:"persona_secondary,omitempty"`
	Type             string       `json:"type"`
	Title            string       `json:"title"`
	Rationale        string       `json:"rationale"`
	Priority         string       `json:"priority"`
	ContentURL       *string      `json:"content_url,omitempty"`
	ReadTimeMinutes  *int         `json:"read_time_minutes,omitempty"`
	GuardrailsPassed Guardrails   `json:"guardrails_passed"`
	GeneratedAt      time.Time    `json:"generated_at"`
	Trace            *IngestTrace `json:"trace,omitempty"`
}

// IngestTrace is the decision trace sent with a recommendation; the four
// documents are the engine's own JSON.
type IngestTrace struct {
	SignalsDetectedAt    time.Time       `json:"signals_detected_at"`
	PersonaAssignedAt    time.Time       `json:"persona_assigned_at"`
	ContentMatchedAt     time.Time       `json:"content_matched_at"`
	RationaleGeneratedAt time.Time       `json:"rationale_generated_at"`
	GuardrailsCheckedAt  time.Time       `json:"guardrails_checked_at"`
	Signals              json.RawMessage `json:"signals"`
	PersonaAssignment    json.RawMessage `json:"persona_assignment"`
	ContentMatches       json.RawMessage `json:"content_matches"`
	RelevanceScores      json.RawMessage `json:"relevance_scores"`
	LLMModel             string          `json:"llm_model"`
	Temperature          float64         `json:"temperature"`
	TokensUsed           int             `json:"tokens_used"`
}

// IngestConflict is an item that was not stored, and why. Reasons start
// with a stable code (ReasonIDConflict, ReasonUnknownUser,
// ReasonDuplicate).
type IngestConflict struct {
	RecommendationID string
	Reason           string
}

// IngestRecsResult is what a recommendation ingest did.
type IngestRecsResult struct {
	Created   int // new recommendations, now pending review
	Unchanged int // identical replays of recommendations already stored
	Conflicts []IngestConflict
}

// canonicalJSON re-serialises a JSON document in one canonical form: object
// keys sorted, no insignificant space, numbers as written.
func canonicalJSON(doc json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	if v == nil {
		return nil, errors.New("null")
	}
	return json.Marshal(v)
}

// normalized returns r in canonical form: times in UTC at the microsecond
// the database keeps, empty optional strings as absent, trace documents in
// canonical JSON.
func (r IngestRecommendation) normalized() (IngestRecommendation, error) {
	n := r
	emptyNil := func(p *string) *string {
		if p == nil || *p == "" {
			return nil
		}
		return p
	}
	n.PersonaSecondary, n.ContentURL = emptyNil(n.PersonaSecondary), emptyNil(n.ContentURL)
	n.GeneratedAt = n.GeneratedAt.UTC().Truncate(time.Microsecond)
	if r.Trace != nil {
		t := *r.Trace
		for _, ts := range []*time.Time{&t.SignalsDetectedAt, &t.PersonaAssignedAt, &t.ContentMatchedAt, &t.RationaleGeneratedAt, &t.GuardrailsCheckedAt} {
			*ts = ts.UTC().Truncate(time.Microsecond)
		}
		for _, d := range []struct {
			name string
			doc  *json.RawMessage
		}{{"signals", &t.Signals}, {"persona_assignment", &t.PersonaAssignment}, {"content_matches", &t.ContentMatches}, {"relevance_scores", &t.RelevanceScores}} {
			c, err := canonicalJSON(*d.doc)
			if err != nil {
				return n, Errorf(EInvalid, "trace.%s must be a JSON document (not null)", d.name)
			}
			*d.doc = c
		}
		n.Trace = &t
	}
	return n, nil
}

// ContentHash is the hex SHA-256 of r's canonical JSON. Ingest stores it in
// recommendations.content_hash to tell identical replays from conflicting
// reuse of an id; anything else writing recommendations (the seeder) should
// store it too.
func (r IngestRecommendation) ContentHash() (string, error) {
	n, err := r.normalized()
	if err != nil {
		return "", err
	}
	return n.digest()
}

// digest hashes an already normalised item.
func (r IngestRecommendation) digest() (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("spendsense.recommendation.v1\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Prepare checks r and returns it in canonical form with its content
// hash: what ingest stores. field prefixes the names in messages
// ("recommendations[3]").
func (r IngestRecommendation) Prepare(field string) (IngestRecommendation, string, error) {
	n, err := r.normalized()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return IngestRecommendation{}, "", Errorf(EInvalid, "%s.%s", field, e.Message)
		}
		return IngestRecommendation{}, "", err
	}
	if err := n.validate(field); err != nil {
		return IngestRecommendation{}, "", err
	}
	h, err := n.digest()
	if err != nil {
		return IngestRecommendation{}, "", err
	}
	return n, h, nil
}

// validate checks a normalised item.
func (r IngestRecommendation) validate(field string) error {
	bad := func(name, format string, args ...any) error {
		return Errorf(EInvalid, "%s.%s %s", field, name, fmt.Sprintf(format, args...))
	}
	lenOK := func(s string, max int) bool {
		return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max
	}
	switch {
	case !ValidID(r.ID):
		return bad("id", "must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
	case !ValidID(r.UserID):
		return bad("user_id", "must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
	case !slices.Contains(Personas, r.PersonaPrimary):
		return bad("persona_primary", "must be one of %v", Personas)
	case r.PersonaSecondary != nil && !slices.Contains(Personas, *r.PersonaSecondary):
		return bad("persona_secondary", "must be null or one of %v", Personas)
	case !slices.Contains(Types, r.Type):
		return bad("type", "must be one of %v", Types)
	case !lenOK(r.Title, 200):
		return bad("title", "must be 1 to 200 characters")
	case !lenOK(r.Rationale, 5000):
		return bad("rationale", "must be 1 to 5000 characters")
	case CheckText(r.Title, ShortText) != "":
		return bad("title", "%s", CheckText(r.Title, ShortText))
	case CheckText(r.Rationale, LongText) != "":
		return bad("rationale", "%s", CheckText(r.Rationale, LongText))
	case !slices.Contains(Priorities, r.Priority):
		return bad("priority", "must be one of %v", Priorities)
	case r.ContentURL != nil && utf8.RuneCountInString(*r.ContentURL) > 2048:
		return bad("content_url", "must be at most 2048 characters")
	case r.ReadTimeMinutes != nil && (*r.ReadTimeMinutes < 0 || *r.ReadTimeMinutes > 1440):
		return bad("read_time_minutes", "must be between 0 and 1440")
	case r.GeneratedAt.IsZero():
		return bad("generated_at", "is required")
	}
	t := r.Trace
	if t == nil {
		return nil
	}
	for _, ts := range []struct {
		name string
		t    time.Time
	}{{"signals_detected_at", t.SignalsDetectedAt}, {"persona_assigned_at", t.PersonaAssignedAt},
		{"content_matched_at", t.ContentMatchedAt}, {"rationale_generated_at", t.RationaleGeneratedAt},
		{"guardrails_checked_at", t.GuardrailsCheckedAt}} {
		if ts.t.IsZero() {
			return bad("trace."+ts.name, "is required")
		}
	}
	switch {
	case !lenOK(t.LLMModel, 200):
		return bad("trace.llm_model", "must be 1 to 200 characters")
	case !(t.Temperature >= 0 && t.Temperature <= 2):
		return bad("trace.temperature", "must be between 0 and 2")
	case t.TokensUsed < 0:
		return bad("trace.tokens_used", "must not be negative")
	}
	if err := CheckTraceShape(t); err != nil {
		return Errorf(EInvalid, "%s.%s", field, err.Error())
	}
	return nil
}
