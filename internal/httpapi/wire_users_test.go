package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// fillSignals sets every field of a review.Signals to a distinct non-zero
// value, so that a field the converters forget shows up as a difference.
func fillSignals() review.Signals {
	var sg review.Signals
	n := 0.0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range v.Len() {
				fill(v.Index(i))
			}
		case reflect.Float64:
			n++
			v.SetFloat(n + 0.5)
		case reflect.Int:
			n++
			v.SetInt(int64(n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.String:
			n++
			v.SetString("s" + string(rune('a'+int(n)%26)))
		default:
			panic("fillSignals: add a case for " + v.Kind().String())
		}
	}
	fill(reflect.ValueOf(&sg).Elem())
	return sg
}

// The signals the API returns are the signals as stored: the wire shape
// and the domain's (whose JSON is user_signals.signals_json) write the
// same bytes, and converting there and back loses nothing.
func TestSignalsWireIsStoredJSON(t *testing.T) {
	sg := fillSignals()
	stored, err := json.Marshal(sg)
	if err != nil {
		t.Fatal(err)
	}
	w := signalsToWire(sg)
	wire, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if string(wire) != string(stored) {
		t.Fatalf("wire %s\nstored %s", wire, stored)
	}
	if back := w.domain(); !reflect.DeepEqual(back, sg) {
		t.Fatalf("round trip = %+v, want %+v", back, sg)
	}
	var empty review.Signals
	empty.Normalize()
	if signalsToWire(empty).Subscriptions.Merchants == nil {
		t.Fatal("an empty merchant list became null")
	}
}

func TestIngestUserToDomain(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	name, second := "Alex", "student"
	sg := fillSignals()
	w := IngestUser{UserID: "u1", Name: &name, ComputedAt: &at,
		Signals:  IngestSignals{Days30: signalsToWire(sg), Days180: new(Signals)},
		Personas: IngestPersonas{Days30: Persona{Primary: "savings_builder", Secondary: &second, MatchStrength: 0.5}},
	}
	*w.Signals.Days180 = signalsToWire(sg)
	w.Signals.Days180.Income.MonthlyIncome = 1
	w.Personas.Days180 = &Persona{Primary: "student", MatchStrength: 0.25}
	u := w.domain()
	want180 := sg
	want180.Income.MonthlyIncome = 1
	want := review.IngestUser{UserID: "u1", Name: &name, ComputedAt: &at,
		Signals:  review.IngestSignals{Days30: sg, Days180: &want180},
		Personas: review.IngestPersonas{Days30: review.Persona{Primary: "savings_builder", Secondary: &second, MatchStrength: 0.5}, Days180: &review.Persona{Primary: "student", MatchStrength: 0.25}},
	}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("domain() = %+v, want %+v", u, want)
	}
	if u := (IngestUser{UserID: "u2"}).domain(); u.Signals.Days180 != nil || u.Personas.Days180 != nil {
		t.Fatalf("absent 180d windows became present: %+v", u)
	}
}
