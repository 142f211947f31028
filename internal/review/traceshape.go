package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// The decision trace's documents have the contract's shape (CONTRACT.md,
// "The decision trace"). Ingest checks the type of every field the
// contract names when it is present, and keeps any other field as it is:
// the dashboard renders these fields and crashed on a trace that had
// content_matches[].score instead of relevance_score.

// jsonKind is the JSON type a field must have.
type jsonKind int

const (
	kNumber jsonKind = iota
	kString
	kBool
	kObject
	kArray
	kStringOrNull
	kFraction // a number from 0 to 1
)

func (k jsonKind) String() string {
	return [...]string{"a number", "a string", "true or false", "an object", "an array", "a string or null", "a number from 0 to 1"}[k]
}

// signalFields are the fields of the four signal objects, as the signals
// endpoint returns them.
var signalFields = map[string]map[string]jsonKind{
	"credit": {"aggregate_utilization_pct": kNumber, "total_credit_used": kNumber, "total_credit_available": kNumber,
		"any_interest_charges": kBool},
	"subscriptions": {"recurring_merchant_count": kNumber, "monthly_recurring_spend": kNumber, "subscription_share_pct": kNumber,
		"merchants": kArray},
	"savings": {"total_savings_balance": kNumber, "savings_growth_rate_pct": kNumber, "net_savings_inflow": kNumber,
		"emergency_fund_months": kNumber},
	"income": {"income_type": kString, "payment_frequency": kString, "median_pay_gap_days": kNumber,
		"income_variability_pct": kNumber, "cash_flow_buffer_months": kNumber, "monthly_income": kNumber},
}

var (
	assignmentFields = map[string]jsonKind{"primary_persona": kString, "primary_match_strength": kFraction,
		"criteria_met": kArray, "secondary_persona": kStringOrNull}
	matchFields    = map[string]jsonKind{"content_id": kString, "title": kString, "relevance_score": kFraction, "match_reason": kString}
	merchantFields = map[string]jsonKind{"name": kString, "amount": kNumber}
)

// shapeError is a trace field of the wrong type.
type shapeError struct{ path, want string }

func (e *shapeError) Error() string { return e.path + " must be " + e.want }

// CheckTraceShape checks the four trace documents of t, returning the
// first field (in a stable order) whose type is wrong, as
// "trace.content_matches[0].relevance_score must be a number from 0 to 1".
func CheckTraceShape(t *IngestTrace) error {
	for _, d := range []struct {
		name  string
		doc   json.RawMessage
		check func(path string, v any) error
	}{
		{"signals", t.Signals, checkSignals},
		{"persona_assignment", t.PersonaAssignment, checkAssignment},
		{"content_matches", t.ContentMatches, checkMatches},
		{"relevance_scores", t.RelevanceScores, checkScores},
	} {
		v, err := decodeDoc(d.doc)
		if err != nil {
			return &shapeError{"trace." + d.name, "a JSON document"}
		}
		if err := d.check("trace."+d.name, v); err != nil {
			return err
		}
	}
	return nil
}

func decodeDoc(doc json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	return v, dec.Decode(&v)
}

func checkSignals(path string, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &shapeError{path, kObject.String()}
	}
	for _, name := range sortedKeys(signalFields) {
		sv, present := m[name]
		if !present {
			continue // one may be absent
		}
		if err := checkObject(path+"."+name, sv, signalFields[name]); err != nil {
			return err
		}
		if ms, ok := sv.(map[string]any)["merchants"].([]any); ok {
			for i, x := range ms {
				if err := checkObject(fmt.Sprintf("%s.%s.merchants[%d]", path, name, i), x, merchantFields); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkAssignment(path string, v any) error {
	if err := checkObject(path, v, assignmentFields); err != nil {
		return err
	}
	if cs, ok := v.(map[string]any)["criteria_met"].([]any); ok {
		for i, c := range cs {
			if _, ok := c.(string); !ok {
				return &shapeError{fmt.Sprintf("%s.criteria_met[%d]", path, i), kString.String()}
			}
		}
	}
	return nil
}

func checkMatches(path string, v any) error {
	ms, ok := v.([]any)
	if !ok {
		return &shapeError{path, kArray.String()}
	}
	for i, m := range ms {
		if err := checkObject(fmt.Sprintf("%s[%d]", path, i), m, matchFields); err != nil {
			return err
		}
	}
	return nil
}

// checkScores: relevance_scores is an array or an object of numbers.
func checkScores(path string, v any) error {
	switch s := v.(type) {
	case []any:
		for i, x := range s {
			if !isKind(x, kNumber) {
				return &shapeError{fmt.Sprintf("%s[%d]", path, i), kNumber.String()}
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(s) {
			if !isKind(s[k], kNumber) {
				return &shapeError{path + "." + k, kNumber.String()}
			}
		}
	default:
		return &shapeError{path, "an array or an object of numbers"}
	}
	return nil
}

// checkObject checks that v is an object whose named fields, where
// present, have their kinds.
func checkObject(path string, v any, fields map[string]jsonKind) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &shapeError{path, kObject.String()}
	}
	for _, name := range sortedKeys(fields) {
		x, present := m[name]
		if present && !isKind(x, fields[name]) {
			return &shapeError{path + "." + name, fields[name].String()}
		}
	}
	return nil
}

func isKind(v any, k jsonKind) bool {
	switch k {
	case kNumber:
		_, ok := v.(json.Number)
		return ok
	case kFraction:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f >= 0 && f <= 1
	case kString:
		_, ok := v.(string)
		return ok
	case kStringOrNull:
		_, ok := v.(string)
		return ok || v == nil
	case kBool:
		_, ok := v.(bool)
		return ok
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	case kArray:
		_, ok := v.([]any)
		return ok
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
