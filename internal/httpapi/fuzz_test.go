package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// fuzzTargets are the action endpoints whose request decoding and
// validation FuzzActionBodies exercises, with the role that may call each.
var fuzzTargets = []struct {
	method, path string // %s is the recommendation id
	role         review.Role
}{
	{"POST", "/api/operator/recommendations/%s/reject", review.RoleOperator},
	{"POST", "/api/operator/recommendations/%s/approve", review.RoleSenior},
	{"POST", "/api/operator/recommendations/bulk-approve", review.RoleOperator},
	{"POST", "/api/operator/recommendations/%s/flag", review.RoleOperator},
	{"PATCH", "/api/operator/recommendations/%s", review.RoleOperator},
	{"POST", "/api/operator/queue/claim", review.RoleOperator},
	{"POST", "/api/ingest/recommendations", review.RoleIngest},
}

// fuzzEngine is one in-process API on one engine.
type fuzzEngine struct {
	engine store.Engine
	h      http.Handler
	tokens map[review.Role]string
}

// FuzzActionBodies sends arbitrary bodies (and recommendation ids, and
// Idempotency-Keys) to the action endpoints of an in-process API on every
// engine, one API per engine fed the same requests in the same order (see
// fuzzEngines). No input may get a 5xx; every refusal is problem+json with
// a detail; and the engines must give the same status (the product behaves
// the same on each). The seed corpus is in testdata/fuzz/FuzzActionBodies.
func FuzzActionBodies(f *testing.F) {
	issuer, err := auth.NewIssuer(testSecret, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	var engines []*fuzzEngine
	for _, e := range fuzzEngines() {
		s := testdb.Open(f, e)
		testdb.Fixture(f, s, 256, 7)
		fe := &fuzzEngine{engine: e, tokens: map[review.Role]string{}}
		for _, role := range review.Roles {
			id := "op_" + role
			if err := s.CreateOperator(f.Context(), review.Operator{ID: id, Name: id, Role: review.Role(role)}, hashOnce()); err != nil {
				f.Fatal(err)
			}
			if fe.tokens[review.Role(role)], _, err = issuer.Issue(id, review.Role(role)); err != nil {
				f.Fatal(err)
			}
		}
		fe.h = httpapi.New(httpapi.Config{Store: s, Issuer: issuer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
		engines = append(engines, fe)
	}
	f.Add(uint8(0), "rec_0000", []byte(`{"reason":"misleading"}`), "")
	f.Add(uint8(1), "rec_0006", []byte(`{"override_guardrails":true,"notes":"checked"}`), "k1")
	f.Add(uint8(2), "", []byte(`{"recommendation_ids":["rec_0001","rec_0001","ghost"],"notes":"n"}`), "")
	f.Add(uint8(4), "rec_0002", []byte(`{"title":"t","priority":"high"}`), "")

	f.Fuzz(func(t *testing.T, target uint8, id string, body []byte, key string) {
		tg := fuzzTargets[int(target)%len(fuzzTargets)]
		path := tg.path
		if strings.Contains(path, "%s") {
			path = fmt.Sprintf(path, url.PathEscape(id))
		}
		var first int
		for i, fe := range engines {
			req := httptest.NewRequest(tg.method, "http://api.test/", bytes.NewReader(body))
			u, err := url.Parse(path)
			if err != nil {
				t.Skip() // not a request a client could send
			}
			req.URL = u
			req.RequestURI = u.RequestURI()
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+fe.tokens[tg.role])
			if key != "" && validHeaderValue(key) {
				req.Header.Set("Idempotency-Key", key)
			}
			w := httptest.NewRecorder()
			fe.h.ServeHTTP(w, req)
			res := w.Result()
			if res.StatusCode >= 500 {
				t.Fatalf("%s %s %s: %d for body %q: %s", fe.engine, tg.method, path, res.StatusCode, body, w.Body.Bytes())
			}
			if res.StatusCode >= 400 {
				var p struct {
					Detail string `json:"detail"`
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Fatalf("%s: %d with Content-Type %q", fe.engine, res.StatusCode, ct)
				}
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Detail == "" {
					t.Fatalf("%s: %d without a detail: %s", fe.engine, res.StatusCode, w.Body.Bytes())
				}
			} else if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: %d with a body that is not JSON: %s", fe.engine, res.StatusCode, w.Body.Bytes())
			}
			if i == 0 {
				first = res.StatusCode
			} else if res.StatusCode != first {
				t.Fatalf("engines disagree on %s %s %q: %s %d, %s %d", tg.method, path, body,
					engines[0].engine, first, fe.engine, res.StatusCode)
			}
		}
	})
}

// fuzzEngines are the engines FuzzActionBodies runs on: every engine when
// it replays its corpus as part of go test (the PostgreSQL server is running
// for the other tests anyway), but only SQLite under -fuzz, where each
// worker process would otherwise start a PostgreSQL server of its own and
// spend a short -fuzztime doing so, unless a server is named
// (SPENDSENSE_TEST_POSTGRES_URL) or SPENDSENSE_FUZZ_POSTGRES=1 asks for one.
func fuzzEngines() []store.Engine {
	if fl := flag.Lookup("test.fuzz"); fl == nil || fl.Value.String() == "" ||
		os.Getenv("SPENDSENSE_TEST_POSTGRES_URL") != "" || os.Getenv("SPENDSENSE_FUZZ_POSTGRES") == "1" {
		return testdb.Engines()
	}
	return []store.Engine{store.SQLite}
}

// validHeaderValue: what net/http would put on the wire unchanged.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}
