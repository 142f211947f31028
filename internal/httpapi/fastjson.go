package httpapi

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/spendsense/operator-api/internal/jsontext"
)

// jsonFormat is huma's JSON format with a fast path for the bodies the
// operator dashboard asks for most: a page of recommendations (up to 500)
// and a single one. encoding/json reflects over every field and re-scans
// each time.Time's MarshalJSON output; for a 100-item page that was about
// a third of the list endpoint's CPU. appendRecommendation writes the same
// bytes directly (TestFastJSONMatchesEncodingJSON holds it to that); every
// other body goes through huma's default encoder.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		var buf *[]byte
		switch body := v.(type) {
		case []Recommendation:
			buf = getBuf()
			*buf = appendRecommendations(*buf, body)
		case Recommendation:
			buf = getBuf()
			*buf = appendRecommendation(*buf, &body)
		default:
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		*buf = append(*buf, '\n') // as json.Encoder ends every value
		_, err := w.Write(*buf)
		putBuf(buf)
		return err
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

// jsonFormats replaces huma's default formats.
func jsonFormats() map[string]huma.Format {
	return map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { b := bufPool.Get().(*[]byte); *b = (*b)[:0]; return b }

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 { // a 500-item page fits; don't keep rare giants
		bufPool.Put(b)
	}
}

func appendRecommendations(b []byte, recs []Recommendation) []byte {
	if recs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecommendation(b, &recs[i])
	}
	return append(b, ']')
}

// appendRecommendation writes r as encoding/json would (HTML escaping off,
// as huma's encoder): the fields in declaration order, nil pointers as null.
func appendRecommendation(b []byte, r *Recommendation) []byte {
	b = append(b, `{"id":`...)
	b = jsontext.AppendString(b, r.ID)
	b = append(b, `,"user_id":`...)
	b = jsontext.AppendString(b, r.UserID)
	b = append(b, `,"persona_primary":`...)
	b = jsontext.AppendString(b, r.PersonaPrimary)
	b = append(b, `,"persona_secondary":`...)
	b = appendJSONStringPtr(b, r.PersonaSecondary)
	b = append(b, `,"type":`...)
	b = jsontext.AppendString(b, r.Type)
	b = append(b, `,"title":`...)
	b = jsontext.AppendString(b, r.Title)
	b = append(b, `,"rationale":`...)
	b = jsontext.AppendString(b, r.Rationale)
	b = append(b, `,"priority":`...)
	b = jsontext.AppendString(b, r.Priority)
	b = append(b, `,"status":`...)
	b = jsontext.AppendString(b, r.Status)
	b = append(b, `,"content_url":`...)
	b = appendJSONStringPtr(b, r.ContentURL)
	b = append(b, `,"read_time_minutes":`...)
	if r.ReadTimeMinutes == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*r.ReadTimeMinutes), 10)
	}
	b = append(b, `,"guardrails_passed":{"tone_check":`...)
	b = strconv.AppendBool(b, r.GuardrailsPassed.ToneCheck)
	b = append(b, `,"advice_check":`...)
	b = strconv.AppendBool(b, r.GuardrailsPassed.AdviceCheck)
	b = append(b, `,"eligibility_check":`...)
	b = strconv.AppendBool(b, r.GuardrailsPassed.EligibilityCheck)
	b = append(b, `},"all_guardrails_passed":`...)
	b = strconv.AppendBool(b, r.AllGuardrailsPassed)
	b = append(b, `,"generated_at":`...)
	b = appendJSONTime(b, r.GeneratedAt)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, r.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, r.UpdatedAt)
	b = append(b, `,"approved_by":`...)
	b = appendJSONStringPtr(b, r.ApprovedBy)
	b = append(b, `,"approved_at":`...)
	b = appendJSONTimePtr(b, r.ApprovedAt)
	b = append(b, `,"rejected_by":`...)
	b = appendJSONStringPtr(b, r.RejectedBy)
	b = append(b, `,"rejected_at":`...)
	b = appendJSONTimePtr(b, r.RejectedAt)
	b = append(b, `,"modified_by":`...)
	b = appendJSONStringPtr(b, r.ModifiedBy)
	b = append(b, `,"modified_at":`...)
	b = appendJSONTimePtr(b, r.ModifiedAt)
	b = append(b, `,"operator_notes":`...)
	b = appendJSONStringPtr(b, r.OperatorNotes)
	b = append(b, `,"previous_status":`...)
	b = appendJSONStringPtr(b, r.PreviousStatus)
	b = append(b, `,"status_changed_at":`...)
	b = appendJSONTimePtr(b, r.StatusChangedAt)
	b = append(b, `,"undo_window_expires_at":`...)
	b = appendJSONTimePtr(b, r.UndoWindowExpiresAt)
	b = append(b, `,"tags":`...)
	if r.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range r.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, r.Version, 10)
	b = append(b, `,"delivery_status":`...)
	b = appendJSONStringPtr(b, r.DeliveryStatus)
	return append(b, '}')
}

func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return jsontext.AppendString(b, *s)
}

// appendJSONTime is time.Time.MarshalJSON: RFC 3339 with nanoseconds as
// needed. (MarshalJSON also refuses years outside 0–9999, which no stored
// timestamp has.)
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendJSONTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendJSONTime(b, *t)
}
