package httpapi

// Micro-benchmarks of the HTTP layer's hot paths, so that regressions show
// up in benchstat:
//
//	go test -run '^$' -bench . -count 6 ./internal/httpapi/ > new.txt
//	benchstat old.txt new.txt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// listPage is 100 recommendations as the list endpoint reads them: half
// with the optional fields set, half decided.
func listPage() []*review.Recommendation {
	t := time.Date(2026, 11, 1, 9, 30, 0, 123456000, time.UTC)
	recs := make([]*review.Recommendation, 100)
	for i := range recs {
		url := fmt.Sprintf("https://learn.example.com/content/%d", i)
		rt := 5 + i%10
		sec := "subscription_heavy"
		r := &review.Recommendation{
			ID: fmt.Sprintf("rec_%07d", i), UserID: fmt.Sprintf("user_%06d", i*37%100000),
			PersonaPrimary: "high_utilization", Type: "article", Priority: "high", Status: review.StatusPending,
			Title:       "Bring your card utilization under 30% to protect your score",
			Rationale:   "Your Visa ending in 4523 is at 68% utilization ($3,400 of a $5,000 limit). Keeping it under 30% is one of the factors scoring models weigh most; paying $1,900 would get you there. This is education, not financial advice.",
			Guardrails:  review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: i%13 != 0},
			GeneratedAt: t, CreatedAt: t.Add(time.Second), UpdatedAt: t.Add(time.Minute), Version: 1,
		}
		if i%2 == 0 {
			r.PersonaSecondary, r.ContentURL, r.ReadTimeMinutes = &sec, &url, &rt
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkEncodeListPage is what the list endpoint does after the query:
// the wire conversion and the JSON encoding of a 100-item page, by the
// format the API installs in huma (fastjson.go) and, for comparison, by
// encoding/json as huma's default format would.
func BenchmarkEncodeListPage(b *testing.B) {
	recs := listPage()
	b.Run("api", func(b *testing.B) {
		w := &countingWriter{}
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonFormat.Marshal(w, toWireList(recs)); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(w.n / int64(b.N))
	})
	b.Run("encoding-json", func(b *testing.B) {
		w := &countingWriter{}
		b.ReportAllocs()
		for b.Loop() {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(toWireList(recs)); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(w.n / int64(b.N))
	})
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// benchAPI is the whole handler (middleware, auth, huma, store) on a fresh
// database of engine e holding n pending recommendations, with an
// operator's token; requests go straight to the handler, without a network.
func benchAPI(b *testing.B, e store.Engine, n int) (http.Handler, string, []string) {
	b.Helper()
	s := testdb.Open(b, e)
	ids := testdb.Fixture(b, s, n, 0)
	issuer, err := auth.NewIssuer([]byte("bench-secret-bench-secret-bench-secret-0"), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := auth.HashPassword("bench password")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateOperator(context.Background(), review.Operator{ID: "op_bench", Name: "Bench", Role: review.RoleOperator}, hash); err != nil {
		b.Fatal(err)
	}
	tok, _, err := issuer.Issue("op_bench", review.RoleOperator)
	if err != nil {
		b.Fatal(err)
	}
	api := New(Config{Store: s, Issuer: issuer, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	return api.Handler(), "Bearer " + tok, ids
}

func serve(b *testing.B, h http.Handler, method, target, token, body string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Authorization", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		b.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
}

func eachEngine(b *testing.B, fn func(b *testing.B, e store.Engine)) {
	for _, e := range testdb.Engines() {
		b.Run(string(e), func(b *testing.B) { fn(b, e) })
	}
}

// BenchmarkListEndpoint is GET /api/operator/recommendations?limit=100
// through the whole handler: token check, query, wire conversion, JSON.
func BenchmarkListEndpoint(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		h, tok, _ := benchAPI(b, e, 1000)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, http.MethodGet, "/api/operator/recommendations?limit=100", tok, "")
		}
	})
}

// BenchmarkGetEndpoint is GET /api/operator/recommendations/{id}.
func BenchmarkGetEndpoint(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		h, tok, ids := benchAPI(b, e, 1000)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			serve(b, h, http.MethodGet, "/api/operator/recommendations/"+ids[i%len(ids)], tok, "")
			i++
		}
	})
}

// BenchmarkApproveEndpoint is POST …/{id}/approve through the whole handler.
func BenchmarkApproveEndpoint(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		h, tok, ids := benchAPI(b, e, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			serve(b, h, http.MethodPost, "/api/operator/recommendations/"+ids[i]+"/approve", tok, `{"notes":"benchmark"}`)
		}
	})
}

// BenchmarkCardTagsEndpoint is GET …/{id}/tags, which the dashboard asks
// for each card of a page: a quarter of the items carry a tag.
func BenchmarkCardTagsEndpoint(b *testing.B) {
	eachEngine(b, func(b *testing.B, e store.Engine) {
		h, tok, ids := benchAPI(b, e, 1000)
		for i := 0; i < len(ids); i += 4 {
			serve(b, h, http.MethodPost, "/api/operator/recommendations/"+ids[i]+"/tags", tok, `{"tag_name":"edge_case"}`)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			serve(b, h, http.MethodGet, "/api/operator/recommendations/"+ids[i%len(ids)]+"/tags", tok, "")
			i++
		}
	})
}
