package httpapi_test

import (
	"bytes"
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
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// env is a real API on a real database behind a real HTTP server.
type env struct {
	t      *testing.T
	s      *store.Store
	srv    *httptest.Server
	issuer *auth.Issuer
	// tokens by operator id; operators "op_<role>" exist for every role.
	tokens map[string]string
}

var testSecret = []byte("test-secret-test-secret-test-secret-0123")

func newEnv(t *testing.T, s *store.Store) *env {
	t.Helper()
	issuer, err := auth.NewIssuer(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Store: s, Issuer: issuer, CORSOrigins: []string{"http://localhost:3000"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, srv: srv, issuer: issuer, tokens: map[string]string{}}
	for _, role := range review.Roles {
		e.addOperator("op_"+role, review.Role(role))
	}
	return e
}

// hashOnce keeps bcrypt's deliberate slowness out of every test.
var hashOnce = func() func() string {
	var h string
	return func() string {
		if h == "" {
			var err error
			if h, err = auth.HashPassword("correct horse battery staple"); err != nil {
				panic(err)
			}
		}
		return h
	}
}()

const testPassword = "correct horse battery staple"

func (e *env) addOperator(id string, role review.Role) {
	e.t.Helper()
	email := id + "@bank.example"
	if err := e.s.CreateOperator(context.Background(), store.Operator{ID: id, Name: "Test " + id, Email: &email, Role: role}, hashOnce()); err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.issuer.Issue(id, role)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[id] = tok
}

// as returns the token of the operator of that role.
func (e *env) as(role review.Role) string { return e.tokens["op_"+string(role)] }

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

func (r resp) List(t *testing.T) []map[string]any {
	t.Helper()
	var m []map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON array: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request. body may be nil, a string or []byte (sent as is), or
// anything else (sent as JSON). headers are name, value pairs.
func (e *env) do(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must fails the test unless the response has the wanted status.
func (r resp) must(t *testing.T, want int) resp {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status = %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// fixture ingests users and n recommendations through the store, every
// badEvery-th one with a failed guardrail (0: none fail). Ids are rec_0000….
func (e *env) fixture(n, badEvery int) []string {
	e.t.Helper()
	ctx := context.Background()
	users := []store.IngestUser{}
	for u := 0; u < 3; u++ {
		users = append(users, store.IngestUser{UserID: fmt.Sprintf("user_%d", u),
			Signals:  store.IngestSignals{Days30: sampleSignals()},
			Personas: store.IngestPersonas{Days30: store.Persona{Primary: "high_utilization", MatchStrength: 0.8}}})
	}
	if _, err := e.s.IngestUsers(ctx, users); err != nil {
		e.t.Fatal(err)
	}
	personas, types, prios := review.Personas, review.Types, review.Priorities
	var recs []store.IngestRecommendation
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("rec_%04d", i)
		ids = append(ids, id)
		g := review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: true}
		if badEvery > 0 && i%badEvery == badEvery-1 {
			g.AdviceCheck = false
		}
		recs = append(recs, store.IngestRecommendation{ID: id, UserID: fmt.Sprintf("user_%d", i%3),
			PersonaPrimary: personas[i%len(personas)], Type: types[i%len(types)], Priority: prios[i%len(prios)],
			Title: "Title " + id, Rationale: "Because of your numbers (" + id + ")", GuardrailsPassed: g,
			GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			Trace: &store.IngestTrace{
				SignalsDetectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PersonaAssignedAt: time.Date(2026, 11, 1, 0, 0, 1, 0, time.UTC),
				ContentMatchedAt: time.Date(2026, 11, 1, 0, 0, 2, 0, time.UTC), RationaleGeneratedAt: time.Date(2026, 11, 1, 0, 0, 3, 0, time.UTC),
				GuardrailsCheckedAt: time.Date(2026, 11, 1, 0, 0, 4, 0, time.UTC),
				Signals:             json.RawMessage(`{"credit":{"aggregate_utilization_pct":78}}`), PersonaAssignment: json.RawMessage(`{"primary":"high_utilization"}`),
				ContentMatches: json.RawMessage(`[{"content_id":"c1","score":0.9}]`), RelevanceScores: json.RawMessage(`{"c1":0.9}`),
				LLMModel: "gpt-4o-mini", Temperature: 0.3, TokensUsed: 412,
			}})
	}
	for start := 0; start < len(recs); start += 1000 {
		res, err := e.s.IngestRecommendations(ctx, recs[start:min(len(recs), start+1000)])
		if err != nil {
			e.t.Fatal(err)
		}
		if len(res.Conflicts) > 0 {
			e.t.Fatalf("fixture conflicts: %+v", res.Conflicts)
		}
	}
	return ids
}

func sampleSignals() store.Signals {
	var sg store.Signals
	sg.Credit.AggregateUtilizationPct = 78
	sg.Credit.TotalCreditUsed = 7800
	sg.Credit.TotalCreditAvailable = 10000
	sg.Credit.AnyInterestCharges = true
	sg.Subscriptions.RecurringMerchantCount = 2
	sg.Subscriptions.Merchants = []store.Merchant{{Name: "Netflix", Amount: 15.49}, {Name: "Spotify", Amount: 11.99}}
	sg.Income.IncomeType = "salaried"
	sg.Income.PaymentFrequency = "biweekly"
	return sg
}

// auditCount counts audit rows, optionally for one recommendation.
func (e *env) auditCount(recID string) int {
	e.t.Helper()
	q, args := `SELECT COUNT(*) FROM operator_audit_log`, []any{}
	if recID != "" {
		q += ` WHERE recommendation_id = ` + e.placeholder(1)
		args = append(args, recID)
	}
	var n int
	if err := e.s.Read.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) placeholder(n int) string {
	if e.s.Engine == store.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}
