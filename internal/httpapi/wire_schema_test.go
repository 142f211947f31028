package httpapi_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
)

// The wire types' tags must build a huma schema, validate the contract's
// example payloads, and keep the enumerations in step with the domain's.
func TestWireTypesSchema(t *testing.T) {
	reg := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	type usersBody struct {
		Users []httpapi.IngestUser `json:"users" minItems:"1" maxItems:"1000"`
	}
	type recsBody struct {
		Recommendations []httpapi.IngestRecommendation `json:"recommendations" minItems:"1" maxItems:"1000"`
	}
	for _, v := range []any{usersBody{}, recsBody{}, httpapi.UserProfile{}, httpapi.UserSignals{}, httpapi.PersonaHistoryEntry{},
		httpapi.Trace{}, httpapi.IngestUsersResult{}, httpapi.IngestRecsResult{}} {
		reg.Schema(reflect.TypeOf(v), true, "")
	}

	validate := func(v any, body string) []error {
		s := reg.Schema(reflect.TypeOf(v), true, "")
		var parsed any
		if err := json.Unmarshal([]byte(body), &parsed); err != nil {
			t.Fatal(err)
		}
		res := &huma.ValidateResult{}
		huma.Validate(reg, s, huma.NewPathBuffer([]byte(""), 0), huma.ModeWriteToServer, parsed, res)
		return res.Errors
	}
	sig := `{"credit":{"aggregate_utilization_pct":68.5,"total_credit_used":3425.5,"total_credit_available":5000,"any_interest_charges":true},
"subscriptions":{"recurring_merchant_count":1,"monthly_recurring_spend":15.49,"subscription_share_pct":2,"merchants":[{"name":"Netflix","amount":15.49}]},
"savings":{"total_savings_balance":100,"savings_growth_rate_pct":-3,"net_savings_inflow":-20,"emergency_fund_months":0.1},
"income":{"income_type":"gig","payment_frequency":"irregular","median_pay_gap_days":9,"income_variability_pct":40,"cash_flow_buffer_months":0.2,"monthly_income":2500}}`
	okUsers := `{"users":[{"user_id":"u1","signals":{"30d":` + sig + `},"personas":{"30d":{"primary":"student","secondary":null,"match_strength":0.5}}},
{"user_id":"u2","name":"N","computed_at":"2025-03-01T00:00:00Z","signals":{"30d":` + sig + `,"180d":` + sig + `},
 "personas":{"30d":{"primary":"student","match_strength":1},"180d":{"primary":"savings_builder","secondary":"student","match_strength":0}}}]}`
	if errs := validate(usersBody{}, okUsers); len(errs) != 0 {
		t.Fatalf("valid users body refused: %v", errs)
	}
	badUsers := strings.Replace(okUsers, `"primary":"student","secondary":null`, `"primary":"gambler","secondary":null`, 1)
	badUsers = strings.Replace(badUsers, `"income_type":"gig"`, `"income_type":"lottery"`, 1)
	if errs := validate(usersBody{}, badUsers); len(errs) != 2 {
		t.Fatalf("bad users body: errors %v, want 2", errs)
	}
	noWindow := `{"users":[{"user_id":"u1","signals":{"180d":` + sig + `},"personas":{"30d":{"primary":"student","match_strength":0.5}}}]}`
	if errs := validate(usersBody{}, noWindow); len(errs) == 0 {
		t.Fatal("a user without 30d signals was accepted")
	}

	okRecs := `{"recommendations":[{"id":"rec_1","user_id":"u1","persona_primary":"student","persona_secondary":null,"type":"quiz",
"title":"t","rationale":"r","priority":"low","content_url":null,"read_time_minutes":null,
"guardrails_passed":{"tone_check":true,"advice_check":false,"eligibility_check":true},"generated_at":"2025-03-01T00:00:00Z",
"trace":{"signals_detected_at":"2025-03-01T00:00:00Z","persona_assigned_at":"2025-03-01T00:00:00Z","content_matched_at":"2025-03-01T00:00:00Z",
"rationale_generated_at":"2025-03-01T00:00:00Z","guardrails_checked_at":"2025-03-01T00:00:00Z","signals":{"a":1},"persona_assignment":[],
"content_matches":[{"x":1}],"relevance_scores":{},"llm_model":"m","temperature":0.2,"tokens_used":10}},
{"id":"rec_2","user_id":"u1","persona_primary":"student","type":"video","title":"t","rationale":"r","priority":"high",
"guardrails_passed":{"tone_check":true,"advice_check":true,"eligibility_check":true},"generated_at":"2025-03-01T00:00:00Z"}]}`
	if errs := validate(recsBody{}, okRecs); len(errs) != 0 {
		t.Fatalf("valid recommendations body refused: %v", errs)
	}
	badRecs := strings.Replace(okRecs, `"id":"rec_1"`, `"id":"rec 1"`, 1)
	badRecs = strings.Replace(badRecs, `"priority":"low"`, `"priority":"urgent"`, 1)
	badRecs = strings.Replace(badRecs, `"type":"video"`, `"type":"video","extra":1`, 1)
	if errs := validate(recsBody{}, badRecs); len(errs) != 3 {
		t.Fatalf("bad recommendations body: errors %v, want 3", errs)
	}

	// Enum tags spell out the domain's lists.
	checkEnum := func(typ reflect.Type, field string, want []string) {
		t.Helper()
		f, ok := typ.FieldByName(field)
		if !ok {
			t.Fatalf("%s has no field %s", typ, field)
		}
		if got := f.Tag.Get("enum"); got != strings.Join(want, ",") {
			t.Errorf("%s.%s enum = %q, want %q", typ.Name(), field, got, strings.Join(want, ","))
		}
	}
	checkEnum(reflect.TypeFor[httpapi.Persona](), "Primary", review.Personas)
	checkEnum(reflect.TypeFor[httpapi.Persona](), "Secondary", review.Personas)
	checkEnum(reflect.TypeFor[httpapi.PersonaHistoryEntry](), "Persona", review.Personas)
	checkEnum(reflect.TypeFor[httpapi.PersonaHistoryEntry](), "WindowType", review.Windows)
	checkEnum(reflect.TypeFor[httpapi.UserSignals](), "WindowType", review.Windows)
	checkEnum(reflect.TypeFor[httpapi.IngestRecommendation](), "PersonaPrimary", review.Personas)
	checkEnum(reflect.TypeFor[httpapi.IngestRecommendation](), "PersonaSecondary", review.Personas)
	checkEnum(reflect.TypeFor[httpapi.IngestRecommendation](), "Type", review.Types)
	checkEnum(reflect.TypeFor[httpapi.IngestRecommendation](), "Priority", review.Priorities)
	checkEnum(reflect.TypeFor[httpapi.Trace](), "Type", review.Types)
	checkEnum(reflect.TypeFor[httpapi.Trace](), "Priority", review.Priorities)
	checkEnum(reflect.TypeFor[httpapi.IncomeSignals](), "IncomeType", review.IncomeTypes)
	checkEnum(reflect.TypeFor[httpapi.IncomeSignals](), "PaymentFrequency", review.PaymentFrequencies)
	for _, typ := range []reflect.Type{reflect.TypeFor[httpapi.IngestRecommendation](), reflect.TypeFor[httpapi.IngestUser]()} {
		for _, name := range []string{"ID", "UserID"} {
			if f, ok := typ.FieldByName(name); ok && f.Tag.Get("pattern") != review.IDPattern {
				t.Errorf("%s.%s pattern = %q, want %q", typ.Name(), name, f.Tag.Get("pattern"), review.IDPattern)
			}
		}
	}
}
