package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/spendsense/operator-api/internal/jsontext"
	"github.com/spendsense/operator-api/internal/review"
)

// encodingJSON is what huma's default format writes.
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fastJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jsonFormat.Marshal(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nastyStrings exercise every escaping rule of encoding/json.
var nastyStrings = []string{
	"", "plain", `quote " and backslash \`, "<html> & 'tags'", "tab\tnew\nline\rret\bback\fform",
	"\x00\x01\x1f\x7f", "émoji 🎉 ünïcödé", "line\u2028sep\u2029para", "bad utf8 \xff\xfe end", "\xe2\x80", "trailing \\",
}

func randomRecommendation(r *rand.Rand) Recommendation {
	str := func() string {
		if r.IntN(3) == 0 {
			return nastyStrings[r.IntN(len(nastyStrings))]
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	ptr := func() *string {
		if r.IntN(2) == 0 {
			return nil
		}
		s := str()
		return &s
	}
	tm := func() time.Time {
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2))).UTC()
	}
	tptr := func() *time.Time {
		if r.IntN(2) == 0 {
			return nil
		}
		t := tm()
		return &t
	}
	rec := Recommendation{
		ID: str(), UserID: str(), PersonaPrimary: str(), PersonaSecondary: ptr(), Type: str(), Title: str(),
		Rationale: str(), Priority: str(), Status: str(), ContentURL: ptr(),
		GuardrailsPassed:    review.Guardrails{ToneCheck: r.IntN(2) == 0, AdviceCheck: r.IntN(2) == 0, EligibilityCheck: r.IntN(2) == 0},
		AllGuardrailsPassed: r.IntN(2) == 0,
		GeneratedAt:         tm(), CreatedAt: tm(), UpdatedAt: tm(),
		ApprovedBy: ptr(), ApprovedAt: tptr(), RejectedBy: ptr(), RejectedAt: tptr(),
		ModifiedBy: ptr(), ModifiedAt: tptr(), OperatorNotes: ptr(),
		PreviousStatus: ptr(), StatusChangedAt: tptr(), UndoWindowExpiresAt: tptr(),
		Version: r.Int64N(1 << 40), DeliveryStatus: ptr(),
	}
	switch r.IntN(3) { // nil, empty and filled tag lists
	case 1:
		rec.Tags = []string{}
	case 2:
		rec.Tags = []string{str(), str()}
	}
	if r.IntN(2) == 0 {
		n := r.IntN(100000) - 50
		rec.ReadTimeMinutes = &n
	}
	return rec
}

// TestFastJSONMatchesEncodingJSON holds the fast path to encoding/json's
// exact bytes, for single recommendations and pages, including every
// escaping rule. A field added to Recommendation without its line in
// appendRecommendation fails here.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		rec := randomRecommendation(r)
		if got, want := fastJSON(t, rec), encodingJSON(t, rec); !bytes.Equal(got, want) {
			t.Fatalf("recommendation %d:\nfast: %s\njson: %s", i, got, want)
		}
	}
	for _, n := range []int{0, 1, 100} {
		page := make([]Recommendation, n)
		for i := range page {
			page[i] = randomRecommendation(r)
		}
		if got, want := fastJSON(t, page), encodingJSON(t, page); !bytes.Equal(got, want) {
			t.Fatalf("page of %d:\nfast: %s\njson: %s", n, got, want)
		}
	}
	var nilPage []Recommendation
	if got, want := fastJSON(t, nilPage), encodingJSON(t, nilPage); !bytes.Equal(got, want) {
		t.Fatalf("nil page: fast %s, json %s", got, want)
	}
	for _, s := range nastyStrings {
		if got, want := jsontext.AppendString(nil, s), encodingJSON(t, s); !bytes.Equal(append(got, '\n'), want) {
			t.Errorf("%q: fast %s, json %s", s, got, want)
		}
	}
	// Anything else goes through encoding/json untouched.
	other := map[string]any{"a": []int{1, 2}, "b": "<&>"}
	if got, want := fastJSON(t, other), encodingJSON(t, other); !bytes.Equal(got, want) {
		t.Fatalf("other body: fast %s, json %s", got, want)
	}
}

// TestFastJSONIsWhatHumaWrites checks huma hands the body to the format as
// the fast path expects: a list and a single recommendation come out of a
// real operation byte for byte as encoding/json would write them.
func TestFastJSONIsWhatHumaWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	page := []Recommendation{randomRecommendation(r), randomRecommendation(r)}
	one := randomRecommendation(r)
	mux := http.NewServeMux()
	hc := huma.DefaultConfig("t", "1")
	hc.CreateHooks = nil
	hc.Formats = jsonFormats()
	api := humago.New(mux, hc)
	type listOut struct{ Body []Recommendation }
	type oneOut struct{ Body Recommendation }
	huma.Get(api, "/list", func(_ context.Context, _ *struct{}) (*listOut, error) { return &listOut{Body: page}, nil })
	huma.Get(api, "/one", func(_ context.Context, _ *struct{}) (*oneOut, error) { return &oneOut{Body: one}, nil })
	for path, v := range map[string]any{"/list": page, "/one": one} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if want := encodingJSON(t, v); !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("%s:\ngot  %s\nwant %s", path, rec.Body.Bytes(), want)
		}
	}
}
