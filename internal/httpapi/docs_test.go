package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// /docs works with no network: the page and everything it loads come from
// this server, which the test proves by fetching each of them from it; the
// Content-Security-Policy forbids the browser anything else.
func TestDocsServedFromTheBinary(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	base, _ := url.Parse(e.srv.URL + "/docs")
	res, err := http.Get(base.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(string(page), "://") {
		t.Errorf("the page or its CSP names another host:\nCSP: %s\n%s", csp, page)
	}

	refs := regexp.MustCompile(`(?:src|href|data-spec)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	want := map[string]string{ // what the page must load, by content type
		"/docs/assets/swagger-ui-bundle.js": "text/javascript",
		"/docs/assets/init.js":              "text/javascript",
		"/docs/assets/swagger-ui.css":       "text/css",
		"/docs/assets/favicon-32x32.png":    "image/png",
		"/openapi.json":                     "application/",
	}
	seen := map[string]bool{}
	for _, m := range refs {
		ref, err := url.Parse(m[1])
		if err != nil || ref.IsAbs() || ref.Host != "" {
			t.Errorf("page loads %q from elsewhere", m[1])
			continue
		}
		u := base.ResolveReference(ref)
		seen[u.Path] = true
		res, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ct := res.Header.Get("Content-Type")
		if res.StatusCode != 200 || len(body) == 0 || !strings.HasPrefix(ct, want[u.Path]) {
			t.Errorf("GET %s = %d, %d bytes, %s", u.Path, res.StatusCode, len(body), ct)
		}
		if u.Path == "/docs/assets/init.js" && !strings.Contains(string(body), "validatorUrl: null") {
			t.Error("init.js leaves the online validator on")
		}
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("the page does not load %s", p)
		}
	}
}

// The OpenAPI document names its server, and says "no token" on the public
// operations instead of leaving security out.
func TestOpenAPIServersAndPublicSecurity(t *testing.T) {
	e := newEnv(t, testdb.Open(t, store.SQLite))
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths map[string]map[string]struct {
			OperationID string                 `json:"operationId"`
			Security    *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(e.do("GET", "/openapi.json", "", nil).must(t, 200).Body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL == "" {
		t.Errorf("servers = %+v", doc.Servers)
	}
	public := map[string]bool{"root": true, "health": true, "ready": true, "auth-login": true}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			switch {
			case op.Security == nil:
				t.Errorf("%s %s: no security entry", method, path)
			case public[op.OperationID] && len(*op.Security) != 0:
				t.Errorf("%s %s is public but has security %v", method, path, *op.Security)
			case !public[op.OperationID] && len(*op.Security) == 0:
				t.Errorf("%s %s needs a token but has security []", method, path)
			}
		}
	}
}
