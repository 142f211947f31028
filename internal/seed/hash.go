package seed

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ingested is a recommendation as the engine would have sent it: before any
// operator edit.
type ingested struct {
	id, userID, persona string
	secondary           any // string or nil
	typ, title          string
	rationale, priority string
	contentURL          any // string or nil
	readTime            any // int or nil
	tone, advice, elig  bool
	generated           time.Time
	trace               *trace
}

// hasher computes recommendations.content_hash the way ingest does
// (review.IngestRecommendation.ContentHash: SHA-256 over a fixed prefix and
// the item's canonical JSON), so that replaying a seeded item through the
// ingest API is recognised as unchanged. Building that JSON by hand is an
// order of magnitude cheaper than decoding and re-encoding the trace
// documents; the tests check it against ContentHash.
type hasher struct {
	j   jw
	hex [64]byte
}

const hashPrefix = "spendsense.recommendation.v1\n"

func (h *hasher) sum(r ingested) string {
	j := &h.j
	j.reset()
	j.b = append(j.b, hashPrefix...)
	j.open().key("id").str(r.id).key("user_id").str(r.userID).key("persona_primary").str(r.persona)
	if s, ok := r.secondary.(string); ok && s != "" {
		j.key("persona_secondary").str(s)
	}
	j.key("type").str(r.typ).key("title").str(r.title).key("rationale").str(r.rationale).key("priority").str(r.priority)
	if s, ok := r.contentURL.(string); ok && s != "" {
		j.key("content_url").str(s)
	}
	if n, ok := r.readTime.(int); ok {
		j.key("read_time_minutes").int(n)
	}
	j.key("guardrails_passed").open().key("tone_check").bool(r.tone).key("advice_check").bool(r.advice).
		key("eligibility_check").bool(r.elig).close()
	h.time("generated_at", r.generated)
	if t := r.trace; t != nil {
		j.key("trace").open()
		h.time("signals_detected_at", t.detected)
		h.time("persona_assigned_at", t.assigned)
		h.time("content_matched_at", t.matched)
		h.time("rationale_generated_at", t.rationale)
		h.time("guardrails_checked_at", t.guardrails)
		j.key("signals").raw(t.signals).key("persona_assignment").raw(t.assignment).
			key("content_matches").raw(t.matches).key("relevance_scores").raw(t.scores).
			key("llm_model").str(t.model).key("temperature").num(t.temperature).key("tokens_used").int(t.tokens).close()
	}
	j.close()
	d := sha256.Sum256(j.b)
	hex.Encode(h.hex[:], d[:])
	return string(h.hex[:])
}

// time writes a time as encoding/json does (RFC 3339 with trimmed
// nanoseconds), in UTC at the microsecond, as ingest normalises it.
func (h *hasher) time(key string, t time.Time) {
	j := &h.j
	j.key(key)
	j.sep()
	j.b = append(j.b, '"')
	j.b = t.UTC().Truncate(time.Microsecond).AppendFormat(j.b, time.RFC3339Nano)
	j.b = append(j.b, '"')
	j.comma = true
}
