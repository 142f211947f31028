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
	api    *httpapi.API
	// tokens by operator id; operators "op_<role>" exist for every role.
	tokens map[string]string
}

var testSecret = []byte("test-secret-test-secret-test-secret-0123")

func newEnv(t *testing.T, s *store.Store) *env {
	t.Helper()
	return newEnvWith(t, s, nil)
}

// newEnvWith is newEnv with the API's configuration adjusted by configure.
func newEnvWith(t *testing.T, s *store.Store, configure func(*httpapi.Config)) *env {
	t.Helper()
	issuer, err := auth.NewIssuer(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	testdb.DeliveryQueue(t, s)
	// A generous request deadline: bcrypt under -race on a loaded 2-core
	// machine can pass the 10 s production default, and a test that is not
	// about deadlines must not fail with 503 because the machine is slow.
	// The default itself is exercised through real processes (internal/e2e).
	cfg := httpapi.Config{Store: s, Issuer: issuer, CORSOrigins: []string{"http://localhost:3000"}, Logger: quiet, RequestTimeout: 2 * time.Minute}
	if configure != nil {
		configure(&cfg)
	}
	api := httpapi.New(cfg)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(api.CloseStreams) // before srv.Close, which waits for open streams
	e := &env{t: t, s: s, srv: srv, issuer: issuer, api: api, tokens: map[string]string{}}
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
	if err := e.s.CreateOperator(context.Background(), review.Operator{ID: id, Name: "Test " + id, Email: &email, Role: role}, hashOnce()); err != nil {
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

// fixture ingests n recommendations (see testdb.Fixture).
func (e *env) fixture(n, badEvery int) []string {
	e.t.Helper()
	return testdb.Fixture(e.t, e.s, n, badEvery)
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

// clock is a settable store clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }
