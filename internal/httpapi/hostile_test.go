package httpapi_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// raw sends bytes the Go client would refuse to (control characters in
// headers, NUL or invalid UTF-8 in the path) over a fresh connection and
// reads the answer. The request line and headers are given without the
// Host, Content-Length and Connection headers, which raw adds.
func (e *env) raw(method, target string, headers map[string]string, body string) resp {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n")
	for k, v := range headers {
		b.WriteString(k + ": " + v + "\r\n")
	}
	if body != "" || method == "POST" || method == "PATCH" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		e.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: out}
}

// hostileCase is one bad request and the one right answer to it.
type hostileCase struct {
	name    string
	method  string
	path    string // already escaped as it goes on the wire
	token   string // a role name, "none" or "garbage"; "" means operator
	body    string
	headers map[string]string // Content-Type defaults to application/json when there is a body
	want    int
	raw     bool // send with raw (bytes the Go client refuses)
}

// TestHostileInput sends a table of malformed, oversized, mistyped and
// malicious requests through the real router on every engine. Each must get
// its one right 4xx as problem+json with a detail, never a 5xx, and the
// database must be byte-for-byte what it was before.
func TestHostileInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(6, 3) // rec_0002 and rec_0005 failed a guardrail
		op := e.as(review.RoleOperator)
		e.do("POST", "/api/operator/recommendations/"+ids[0]+"/approve", op, nil).must(t, 200)
		flagID := e.do("POST", "/api/operator/recommendations/"+ids[1]+"/flag", op, map[string]any{"reason": "look"}).must(t, 200).JSON(t)["flag_id"].(string)
		e.do("POST", "/api/operator/recommendations/"+ids[3]+"/reject", op, map[string]any{"reason": "no"}).must(t, 200)
		cursorHdr := e.do("GET", "/api/operator/recommendations?status=all&limit=1", op, nil).must(t, 200).Header.Get("X-Next-Cursor")
		if cursorHdr == "" {
			t.Fatal("no cursor to truncate")
		}
		pending := ids[4]

		cases := hostileCases(pending, flagID, cursorHdr)
		before := dumpDB(t, s)
		statuses := map[int]int{}
		for _, c := range cases {
			token := e.as(review.RoleOperator)
			switch c.token {
			case "":
			case "none":
				token = ""
			case "garbage":
				token = "garbage.token.value"
			default:
				token = e.as(review.Role(c.token))
			}
			var r resp
			if c.raw {
				h := map[string]string{}
				if token != "" {
					h["Authorization"] = "Bearer " + token
				}
				if c.body != "" {
					h["Content-Type"] = "application/json"
				}
				for k, v := range c.headers {
					h[k] = v
				}
				r = e.raw(c.method, c.path, h, c.body)
			} else {
				r = e.hostileDo(c.method, c.path, token, c.body, c.headers)
			}
			statuses[r.Status]++
			if r.Status >= 500 {
				t.Errorf("%s: %d (5xx) %s", c.name, r.Status, trim(r.Body))
				continue
			}
			if r.Status != c.want {
				t.Errorf("%s: status %d, want %d; %s", c.name, r.Status, c.want, trim(r.Body))
				continue
			}
			if r.Status < 400 {
				continue // a hostile read that is answered still changes nothing (compared below)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: Content-Type %q, want application/problem+json", c.name, ct)
				continue
			}
			var p struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(r.Body, &p); err != nil || p.Detail == "" || p.Status != r.Status || p.Title == "" {
				t.Errorf("%s: problem body without status/title/detail: %v %s", c.name, err, trim(r.Body))
			}
			// No problem body echoes the request back (for a login, that
			// would be the password).
			if len(c.body) >= 12 && strings.Contains(string(r.Body), strings.Trim(c.body, "{} ")) {
				t.Errorf("%s: the problem echoes the request body: %s", c.name, trim(r.Body))
			}
			for _, secret := range []string{"hunter2-secret", "correct horse", "\u200b"} {
				if strings.Contains(c.body, secret) && strings.Contains(string(r.Body), secret) {
					t.Errorf("%s: the problem echoes %q: %s", c.name, secret, trim(r.Body))
				}
			}
			for _, leak := range []string{"SQLSTATE", "syntax error at", "sqlite", "pq:", "goroutine ", ".go:"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("%s: body leaks %q: %s", c.name, leak, trim(r.Body))
				}
			}
		}
		after := dumpDB(t, s)
		for table, rows := range before {
			if after[table] != rows {
				t.Errorf("table %s changed:\nbefore:\n%s\nafter:\n%s", table, rows, after[table])
			}
		}
		for table := range after {
			if _, ok := before[table]; !ok {
				t.Errorf("table %s appeared", table)
			}
		}
		t.Logf("%s: %d hostile requests tried; statuses %v; %d tables compared", s.Engine, len(cases), statuses, len(before))
		if len(cases) < 100 {
			t.Errorf("only %d cases", len(cases))
		}
	})
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// hostileDo sends a request with the Go client (path already escaped).
func (e *env) hostileDo(method, path, token, body string, headers map[string]string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// dumpDB renders every table, rows in a fixed order, as text. Only River's
// own bookkeeping tables (leader election, client heartbeats), which change
// with time rather than with requests, are left out.
func dumpDB(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if s.Engine == store.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	rows, err := s.Read.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch n {
		case "river_leader", "river_client", "river_client_queue", "river_queue":
			continue
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, table := range tables {
		cols, err := s.Read.Query(`SELECT * FROM ` + table + ` LIMIT 0`)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := cols.Columns()
		cols.Close()
		order := make([]string, len(names))
		for i := range names {
			order[i] = strconv.Itoa(i + 1)
		}
		rows, err := s.Read.Query(`SELECT * FROM ` + table + ` ORDER BY ` + strings.Join(order, ", "))
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		var b strings.Builder
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte('|')
				}
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%q", fmt.Sprint(v))
			}
			b.WriteByte('\n')
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[table] = fmt.Sprintf("%d rows\n%s", n, b.String())
	}
	return out
}

// hostileCases is the table. Paths are written escaped, as they go on the
// wire; the server decodes them.
func hostileCases(pending, flagID, cursor string) []hostileCase {
	rec := "/api/operator/recommendations"
	one := rec + "/" + pending
	reject, approve, flag := one+"/reject", one+"/approve", one+"/flag"
	bulk := rec + "/bulk-approve"
	resolve := "/api/operator/flags/" + flagID + "/resolve"
	claim, release := "/api/operator/queue/claim", "/api/operator/queue/release"
	ingRecs, ingUsers := "/api/ingest/recommendations", "/api/ingest/users"
	audit, stats := "/api/operator/audit-logs", "/api/operator/stats"
	deep := strings.Repeat("[", 10000)
	deepClosed := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	esc := url.PathEscape
	qe := url.QueryEscape
	injections := []string{"' OR 1=1 --", `"; DROP TABLE recommendations; --`, "%00", "../../etc/passwd", `{"$ne":null}`, "\x00", "\xff\xfe", "rec_0001' --", strings.Repeat("A", 129)}
	validRec := func(id string) string {
		return `{"recommendations":[{"id":"` + id + `","user_id":"user_0","persona_primary":"student","type":"article","title":"t","rationale":"r","priority":"low",` +
			`"guardrails_passed":{"tone_check":true,"advice_check":true,"eligibility_check":true},"generated_at":"2026-11-01T00:00:00Z"}]}`
	}

	cs := []hostileCase{
		// Malformed and truncated JSON: 400.
		{name: "truncated object", method: "POST", path: reject, body: `{"reason": "x"`, want: 400},
		{name: "lone brace", method: "POST", path: reject, body: `{`, want: 400},
		{name: "trailing comma", method: "POST", path: reject, body: `{"reason": "x",}`, want: 400},
		{name: "single quotes", method: "POST", path: reject, body: `{'reason': 'x'}`, want: 400},
		{name: "form body as json", method: "POST", path: reject, body: `reason=x`, want: 400},
		{name: "extra closing brace", method: "POST", path: reject, body: `{"reason": "x"}}`, want: 400},
		{name: "two documents", method: "POST", path: reject, body: `{"reason":"x"} {"reason":"y"}`, want: 400},
		{name: "bad unicode escape", method: "POST", path: reject, body: `{"reason": "\u12"}`, want: 400},
		{name: "raw NUL byte in string", method: "POST", path: reject, body: "{\"reason\": \"a\x00b\"}", want: 400},
		{name: "raw newline in string", method: "POST", path: reject, body: "{\"reason\": \"a\nb\"}", want: 400},
		{name: "empty required body", method: "POST", path: reject, body: "", want: 400},
		{name: "approve malformed", method: "POST", path: approve, body: `{`, want: 400},
		{name: "flag truncated string", method: "POST", path: flag, body: `{"reason": "to`, want: 400},
		{name: "bulk truncated array", method: "POST", path: bulk, body: `{"recommendation_ids": ["a",`, want: 400},
		{name: "resolve truncated", method: "POST", path: resolve, token: "senior_operator", body: `{"resolution": "approve", "notes": `, want: 400},
		{name: "claim missing value", method: "POST", path: claim, body: `{"limit": }`, want: 400},
		{name: "release bad array", method: "POST", path: release, body: `{"recommendation_ids": [}`, want: 400},
		{name: "modify truncated", method: "PATCH", path: one, body: `{"title": "x"`, want: 400},
		{name: "ingest recs truncated", method: "POST", path: ingRecs, token: "ingest", body: `{"recommendations": [{"id": "a"`, want: 400},
		{name: "ingest users truncated", method: "POST", path: ingUsers, token: "ingest", body: `{"users": [`, want: 400},
		{name: "login truncated", method: "POST", path: "/api/auth/login", token: "none", body: `{"operator_id": "op_admin", "password": `, want: 400},
		{name: "10k open brackets", method: "POST", path: reject, body: deep, want: 400},
		{name: "10k open brackets in a field", method: "POST", path: reject, body: `{"reason": ` + deep, want: 400},
		{name: "10001 nested arrays", method: "POST", path: bulk, body: `{"recommendation_ids": ` + deepClosed + `}`, want: 400},
		{name: "binary garbage", method: "POST", path: reject, body: "\xff\xfe\x00\x01{}", want: 400},
		{name: "trailing garbage", method: "POST", path: reject, body: `{"reason": "x"}xyz`, want: 400},
		{name: "byte order mark", method: "POST", path: reject, body: "\xef\xbb\xbf{\"reason\":\"x\"}", want: 400},
		{name: "invalid UTF-8 in string", method: "POST", path: reject, body: "{\"reason\": \"\xff\xfe\"}", want: 400},
		{name: "invalid UTF-8 in notes", method: "POST", path: approve, body: "{\"notes\": \"ok \xc3\x28\"}", want: 400},
		{name: "invalid UTF-8 in title", method: "PATCH", path: one, body: "{\"title\": \"\xed\xa0\x80\"}", want: 400},
		{name: "invalid UTF-8 in ingest", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("bad_utf8"), `"t"`, "\"\xff\"", 1), want: 400},

		// Wrong types, unknown fields, out of range, bad enums: 422.
		{name: "reason number", method: "POST", path: reject, body: `{"reason": 5}`, want: 422},
		{name: "reason null", method: "POST", path: reject, body: `{"reason": null}`, want: 422},
		{name: "reason array", method: "POST", path: reject, body: `{"reason": ["x"]}`, want: 422},
		{name: "reason object (JSON injection)", method: "POST", path: reject, body: `{"reason": {"$ne": 1}}`, want: 422},
		{name: "body array", method: "POST", path: reject, body: `[]`, want: 422},
		{name: "body string", method: "POST", path: reject, body: `"reason"`, want: 422},
		{name: "body null", method: "POST", path: reject, body: `null`, want: 422},
		{name: "body true", method: "POST", path: reject, body: `true`, want: 422},
		{name: "override string", method: "POST", path: approve, body: `{"override_guardrails": "yes"}`, want: 422},
		{name: "notes number", method: "POST", path: approve, body: `{"notes": 5}`, want: 422},
		{name: "notes too long", method: "POST", path: approve, body: `{"notes": "` + strings.Repeat("x", 2001) + `"}`, want: 422},
		{name: "bulk ids string", method: "POST", path: bulk, body: `{"recommendation_ids": "` + pending + `"}`, want: 422},
		{name: "bulk ids numbers", method: "POST", path: bulk, body: `{"recommendation_ids": [1, 2]}`, want: 422},
		{name: "bulk ids empty", method: "POST", path: bulk, body: `{"recommendation_ids": []}`, want: 422},
		{name: "bulk ids null item", method: "POST", path: bulk, body: `{"recommendation_ids": [null]}`, want: 422},
		{name: "bulk 1001 ids", method: "POST", path: bulk, body: `{"recommendation_ids": [` + strings.TrimSuffix(strings.Repeat(`"x",`, 1001), ",") + `]}`, want: 422},
		{name: "bulk notes object", method: "POST", path: bulk, body: `{"recommendation_ids": ["` + pending + `"], "notes": {}}`, want: 422},
		{name: "claim limit 1e400", method: "POST", path: claim, body: `{"limit": 1e400}`, want: 422},
		{name: "claim limit 2^63", method: "POST", path: claim, body: `{"limit": 9223372036854775808}`, want: 422},
		{name: "claim limit -1", method: "POST", path: claim, body: `{"limit": -1}`, want: 422},
		{name: "claim limit 101", method: "POST", path: claim, body: `{"limit": 101}`, want: 422},
		{name: "claim limit fraction", method: "POST", path: claim, body: `{"limit": 1.5}`, want: 422},
		{name: "claim limit string", method: "POST", path: claim, body: `{"limit": "10"}`, want: 422},
		{name: "claim persona enum", method: "POST", path: claim, body: `{"persona": "rich"}`, want: 422},
		{name: "claim priority injection", method: "POST", path: claim, body: `{"priority": "' OR 1=1 --"}`, want: 422},
		{name: "claim type enum", method: "POST", path: claim, body: `{"type": "podcast"}`, want: 422},
		{name: "claim unknown field", method: "POST", path: claim, body: `{"limit": 1, "operator_id": "op_admin"}`, want: 422},
		{name: "resolve enum", method: "POST", path: resolve, token: "senior_operator", body: `{"resolution": "maybe", "notes": "x"}`, want: 422},
		{name: "resolve injection", method: "POST", path: resolve, token: "senior_operator", body: `{"resolution": "approve'; DROP TABLE recommendations; --", "notes": "x"}`, want: 422},
		{name: "resolve huge number", method: "POST", path: resolve, token: "senior_operator", body: `{"resolution": "approve", "notes": 1e400}`, want: 422},
		{name: "modify priority enum", method: "PATCH", path: one, body: `{"priority": "urgent"}`, want: 422},
		{name: "modify nothing", method: "PATCH", path: one, body: `{}`, want: 422},
		{name: "modify empty title", method: "PATCH", path: one, body: `{"title": ""}`, want: 422},
		{name: "modify blank rationale", method: "PATCH", path: one, body: `{"rationale": "   "}`, want: 422},
		{name: "modify title number", method: "PATCH", path: one, body: `{"title": 123}`, want: 422},
		{name: "modify unknown field", method: "PATCH", path: one, body: `{"status": "approved"}`, want: 422},
		{name: "modify version field", method: "PATCH", path: one, body: `{"title": "x", "version": 99}`, want: 422},
		{name: "reject actor in body", method: "POST", path: reject, body: `{"reason": "x", "operator_id": "op_admin"}`, want: 422},
		{name: "approve actor in body", method: "POST", path: approve, body: `{"approved_by": "op_admin"}`, want: 422},
		{name: "reject blank reason", method: "POST", path: reject, body: `{"reason": "   "}`, want: 422},
		{name: "reject empty reason", method: "POST", path: reject, body: `{"reason": ""}`, want: 422},
		{name: "reject reason too long", method: "POST", path: reject, body: `{"reason": "` + strings.Repeat("x", 2001) + `"}`, want: 422},
		{name: "reject missing reason", method: "POST", path: reject, body: `{}`, want: 422},
		{name: "NUL escape in reason", method: "POST", path: reject, body: `{"reason": "a\u0000b"}`, want: 422},
		{name: "NUL escape in flag reason", method: "POST", path: flag, body: `{"reason": "\u0000"}`, want: 422},
		{name: "NUL escape in notes", method: "POST", path: approve, body: `{"notes": "ok\u0000"}`, want: 422},
		{name: "NUL escape in title", method: "PATCH", path: one, body: `{"title": "\u0000"}`, want: 422},
		{name: "NUL escape in bulk id", method: "POST", path: bulk, body: `{"recommendation_ids": ["rec\u0000"]}`, want: 422},
		{name: "NUL escape in login", method: "POST", path: "/api/auth/login", token: "none", body: `{"operator_id": "op_admin\u0000", "password": "x"}`, want: 422},
		{name: "NUL escape in ingest", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("nul_title"), `"t"`, `"\u0000"`, 1), want: 422},
		// Text a person reads later must show something and must not
		// reorder or control what shows it: 422.
		{name: "zero-width reject reason", method: "POST", path: reject, body: `{"reason": "\u200b"}`, want: 422},
		{name: "zero-width override notes", method: "POST", path: approve, body: `{"notes": "\u200b\u200d", "override_guardrails": true}`, want: 422},
		{name: "BOM flag reason", method: "POST", path: flag, body: `{"reason": "\ufeff "}`, want: 422},
		{name: "RLO in title", method: "PATCH", path: one, body: `{"title": "invoice\u202eexe.txt"}`, want: 422},
		{name: "ESC in rationale", method: "PATCH", path: one, body: `{"rationale": "\u001b[2J\u001b[31mcleared"}`, want: 422},
		{name: "BEL in reason", method: "POST", path: reject, body: `{"reason": "ding\u0007"}`, want: 422},
		{name: "CR in bulk notes", method: "POST", path: bulk, body: `{"recommendation_ids": ["x"], "notes": "a\rb"}`, want: 422},
		{name: "isolate in resolve notes", method: "POST", path: resolve, token: "senior_operator", body: `{"resolution": "requeue", "notes": "\u2067x"}`, want: 422},
		{name: "ESC in ingested title", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("esc_title"), `"t"`, `"\u001b]0;pwned\u0007"`, 1), want: 422},
		{name: "RLO in ingested rationale", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("rlo_rat"), `"r"`, `"\u202eevil"`, 1), want: 422},
		{name: "zero-width ingested title", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("zw_title"), `"t"`, `"\u200b"`, 1), want: 422},

		// JSON keys match exactly, case included: 422.
		{name: "Notes capitalised", method: "POST", path: approve, body: `{"Notes": "x"}`, want: 422},
		{name: "REASON upper case", method: "POST", path: reject, body: `{"REASON": "x"}`, want: 422},
		{name: "Recommendation_IDs", method: "POST", path: bulk, body: `{"Recommendation_IDs": ["x"]}`, want: 422},
		{name: "Password capitalised", method: "POST", path: "/api/auth/login", token: "none", body: `{"operator_id": "op_admin", "Password": "x"}`, want: 422},

		// Memory amplification: a body of many tiny values is refused
		// before anything is decoded, and nothing of it is echoed back.
		{name: "1 MiB of zeros for notes", method: "POST", path: approve, body: `{"notes":[` + strings.Repeat("0,", 500_000) + `0]}`, want: 422},
		{name: "1 MiB of empty arrays", method: "POST", path: bulk, body: `{"recommendation_ids":[` + strings.Repeat("[],", 300_000) + `[]]}`, want: 422},
		{name: "deep but valid", method: "POST", path: reject, body: `{"reason":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, want: 422},
		{name: "login password as array", method: "POST", path: "/api/auth/login", token: "none", body: `{"operator_id": "op_admin", "password": ["hunter2-secret"]}`, want: 422},
		{name: "release ids string", method: "POST", path: release, body: `{"recommendation_ids": "all"}`, want: 422},
		{name: "ingest recs empty", method: "POST", path: ingRecs, token: "ingest", body: `{"recommendations": []}`, want: 422},
		{name: "ingest recs bad persona", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("bad_persona"), "student", "rich", 1), want: 422},
		{name: "ingest recs injection id", method: "POST", path: ingRecs, token: "ingest", body: validRec(`' OR 1=1 --`), want: 422},
		{name: "ingest recs bad date", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("bad_date"), "2026-11-01T00:00:00Z", "2026-13-45T99:00:00Z", 1), want: 422},
		{name: "ingest recs unknown field", method: "POST", path: ingRecs, token: "ingest", body: strings.Replace(validRec("unknown_f"), `"title"`, `"status":"approved","title"`, 1), want: 422},
		{name: "ingest users path id", method: "POST", path: ingUsers, token: "ingest", body: `{"users": [{"user_id": "../../etc/passwd", "signals": {}, "personas": {}}]}`, want: 422},
		{name: "ingest users string", method: "POST", path: ingUsers, token: "ingest", body: `{"users": "x"}`, want: 422},
		{name: "login id number", method: "POST", path: "/api/auth/login", token: "none", body: `{"operator_id": 5, "password": "x"}`, want: 422},
		{name: "login no id", method: "POST", path: "/api/auth/login", token: "none", body: `{"password": "x"}`, want: 422},

		// Too large: 413.
		{name: "10 MB reject body", method: "POST", path: reject, body: `{"reason": "` + strings.Repeat("x", 10<<20) + `"}`, want: 413},
		{name: "10 MB bulk body", method: "POST", path: bulk, body: `{"recommendation_ids": ["` + strings.Repeat("x", 10<<20) + `"]}`, want: 413},
		{name: "10 MB ingest body", method: "POST", path: ingRecs, token: "ingest", body: `{"recommendations": [` + strings.Repeat(" ", 10<<20) + `]}`, want: 413},
		{name: "10 MB login body", method: "POST", path: "/api/auth/login", token: "none", body: `{"password": "` + strings.Repeat("x", 10<<20) + `"}`, want: 413},
		{name: "10 MB with idempotency key", method: "POST", path: reject, body: `{"reason": "` + strings.Repeat("x", 10<<20) + `"}`, headers: map[string]string{"Idempotency-Key": "big"}, want: 413},

		// Wrong content types: 415.
		{name: "text/plain", method: "POST", path: reject, body: `{"reason": "x"}`, headers: map[string]string{"Content-Type": "text/plain"}, want: 415},
		{name: "form content type", method: "POST", path: reject, body: `reason=x`, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 415},
		{name: "xml", method: "POST", path: reject, body: `<reason>x</reason>`, headers: map[string]string{"Content-Type": "application/xml"}, want: 415},
		{name: "multipart", method: "POST", path: bulk, body: `--x--`, headers: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, want: 415},

		// Bad If-Match: 412.
		{name: "If-Match garbage", method: "POST", path: reject, body: `{"reason": "x"}`, headers: map[string]string{"If-Match": "garbage"}, want: 412},
		{name: "If-Match stale", method: "POST", path: approve, body: `{}`, headers: map[string]string{"If-Match": `"999"`}, want: 412},
		{name: "If-Match injection", method: "PATCH", path: one, body: `{"title": "x"}`, headers: map[string]string{"If-Match": `"1' OR 1=1 --"`}, want: 412},
		{name: "If-Match huge", method: "POST", path: flag, body: `{"reason": "x"}`, headers: map[string]string{"If-Match": `"99999999999999999999999"`}, want: 412},
		{name: "If-Match negative", method: "POST", path: flag, body: `{"reason": "x"}`, headers: map[string]string{"If-Match": `"-1"`}, want: 412},

		// Bad Idempotency-Key: 422.
		{name: "Idempotency-Key too long", method: "POST", path: reject, body: `{"reason": "x"}`, headers: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, want: 422},
		{name: "Idempotency-Key non-ASCII", method: "POST", path: reject, body: `{"reason": "x"}`, headers: map[string]string{"Idempotency-Key": "clé"}, raw: true, want: 422},

		// Wrong methods: 405.
		{name: "DELETE recommendation", method: "DELETE", path: one, want: 405},
		{name: "PUT approve", method: "PUT", path: approve, body: `{}`, want: 405},
		{name: "GET approve", method: "GET", path: approve, want: 405},

		// Auth: 401 / 403.
		{name: "no token", method: "POST", path: reject, token: "none", body: `{"reason": "x"}`, want: 401},
		{name: "garbage token", method: "POST", path: approve, token: "garbage", body: `{}`, want: 401},
		{name: "alg none token", method: "POST", path: approve, token: "none", body: `{}`, headers: map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJvcF9hZG1pbiIsInJvbGUiOiJhZG1pbiJ9."}, want: 401},
		{name: "SQL in bearer", method: "GET", path: rec, token: "none", headers: map[string]string{"Authorization": "Bearer ' OR 1=1 --"}, want: 401},
		{name: "ingest role approving", method: "POST", path: approve, token: "ingest", body: `{}`, want: 403},
		{name: "operator resolving", method: "POST", path: resolve, body: `{"resolution": "approve", "notes": "x"}`, want: 403},
		{name: "operator ingesting", method: "POST", path: ingRecs, body: validRec("forbidden"), want: 403},

		// Unknown ids and paths: 404.
		{name: "approve unknown id", method: "POST", path: rec + "/no_such_rec/approve", body: `{}`, want: 404},
		{name: "resolve unknown flag", method: "POST", path: "/api/operator/flags/0190f1f0-0000-7000-8000-000000000000/resolve", token: "senior_operator", body: `{"resolution": "requeue", "notes": "x"}`, want: 404},
		{name: "retry unknown delivery", method: "POST", path: "/api/operator/deliveries/no_such_rec/retry", token: "admin", want: 404},
		{name: "unknown user", method: "GET", path: "/api/operator/users/no_such_user", want: 404},
		{name: "unknown route", method: "GET", path: "/api/operator/nothing-here", want: 404},
		{name: "path traversal route", method: "GET", path: "/api/operator/../../etc/passwd", want: 404},

		// Query strings: 422.
		{name: "list status injection", method: "GET", path: rec + "?status=" + qe("' OR 1=1 --"), want: 422},
		{name: "list status case", method: "GET", path: rec + "?status=ALL", want: 422},
		{name: "list persona drop", method: "GET", path: rec + "?persona=" + qe(`"; DROP TABLE recommendations; --`), want: 422},
		{name: "list priority NUL", method: "GET", path: rec + "?priority=%00", want: 422},
		{name: "list type traversal", method: "GET", path: rec + "?type=" + qe("../../etc/passwd"), want: 422},
		{name: "list limit 1e400", method: "GET", path: rec + "?limit=1e400", want: 422},
		{name: "list limit 2^63", method: "GET", path: rec + "?limit=9223372036854775808", want: 422},
		{name: "list limit huge", method: "GET", path: rec + "?limit=99999999999", want: 422},
		{name: "list limit negative", method: "GET", path: rec + "?limit=-1", want: 422},
		{name: "list limit zero", method: "GET", path: rec + "?limit=0", want: 422},
		{name: "list limit fraction", method: "GET", path: rec + "?limit=1.5", want: 422},
		{name: "list limit word", method: "GET", path: rec + "?limit=ten", want: 422},
		{name: "cursor random base64", method: "GET", path: rec + "?cursor=" + b64("\x8f\x01\xfe random bytes \x00"), want: 422},
		{name: "cursor base64 of bad JSON", method: "GET", path: rec + "?cursor=" + b64(`{"t": "2026-01-01T00:00:00Z", "id": `), want: 422},
		{name: "cursor base64 of wrong JSON", method: "GET", path: rec + "?cursor=" + b64(`{"t": 5, "id": ["x"]}`), want: 422},
		{name: "cursor with injection id", method: "GET", path: rec + "?cursor=" + b64(`{"t":"2026-01-01T00:00:00Z","id":"' OR 1=1 --"}`), want: 422},
		{name: "cursor with extra field", method: "GET", path: rec + "?cursor=" + b64(`{"t":"2026-01-01T00:00:00Z","id":"rec_1","x":1}`), want: 422},
		{name: "cursor truncated", method: "GET", path: rec + "?cursor=" + cursor[:len(cursor)/2], want: 422},
		{name: "cursor not base64", method: "GET", path: rec + "?cursor=" + qe("!!!***"), want: 422},
		{name: "cursor NUL", method: "GET", path: rec + "?cursor=%00", want: 422},
		{name: "cursor huge", method: "GET", path: rec + "?cursor=" + strings.Repeat("A", 4096), want: 422},
		{name: "audit action drop", method: "GET", path: audit + "?action=" + qe("approve; DROP TABLE operator_audit_log"), want: 422},
		{name: "audit bad start date", method: "GET", path: audit + "?start_date=2026-13-45", want: 422},
		{name: "audit word end date", method: "GET", path: audit + "?end_date=yesterday", want: 422},
		{name: "audit injection date", method: "GET", path: audit + "?start_date=" + qe("' OR 1=1 --"), want: 422},
		{name: "audit bad offset time", method: "GET", path: audit + "?start_date=" + qe("2026-11-01T00:00:00+99:00"), want: 422},
		{name: "audit start after end", method: "GET", path: audit + "?start_date=2026-11-02&end_date=2026-11-01", want: 422},
		{name: "audit negative offset", method: "GET", path: audit + "?offset=-1", want: 422},
		{name: "audit offset 1e400", method: "GET", path: audit + "?offset=1e400", want: 422},
		{name: "audit huge limit", method: "GET", path: audit + "?limit=100000", want: 422},
		{name: "audit cursor garbage", method: "GET", path: audit + "?cursor=garbage", want: 422},
		{name: "audit cursor and offset", method: "GET", path: audit + "?cursor=" + cursor + "&offset=5", want: 422},
		{name: "export bad format", method: "GET", path: audit + "/export?format=" + qe("csv' --"), want: 422},
		{name: "export bad date", method: "GET", path: audit + "/export?end_date=2026-02-30", want: 422},
		{name: "stats tz Mars", method: "GET", path: stats + "?tz=" + qe("Mars/Olympus"), want: 422},
		{name: "stats tz traversal", method: "GET", path: stats + "?tz=" + qe("../../etc"), want: 422},
		{name: "stats tz absolute path", method: "GET", path: stats + "?tz=" + qe("/etc/passwd"), want: 422},
		{name: "stats tz Local", method: "GET", path: stats + "?tz=Local", want: 422},
		{name: "stats tz NUL", method: "GET", path: stats + "?tz=UTC%00", want: 422},
		{name: "signals window enum", method: "GET", path: "/api/operator/users/user_0/signals?window_type=7d", want: 422},
		{name: "history days huge", method: "GET", path: "/api/operator/users/user_0/persona-history?days=1e400", want: 422},
		{name: "history days negative", method: "GET", path: "/api/operator/users/user_0/persona-history?days=-5", want: 422},
		{name: "flags resolved word", method: "GET", path: "/api/operator/flags?resolved=maybe", want: 422},
		{name: "deliveries status enum", method: "GET", path: "/api/operator/deliveries?status=" + qe("' OR 1=1 --"), want: 422},
	}
	// Every id-like filter and every path segment with each injection string:
	// a malformed id is a 422 naming the parameter (well-formed unknown ids are 404 above).
	for _, inj := range injections {
		qv, pv := qe(inj), esc(inj)
		cs = append(cs,
			hostileCase{name: "list user_id " + inj, method: "GET", path: rec + "?user_id=" + qv, want: 422},
			hostileCase{name: "audit operator_id " + inj, method: "GET", path: audit + "?operator_id=" + qv, want: 422},
			hostileCase{name: "audit recommendation_id " + inj, method: "GET", path: audit + "?recommendation_id=" + qv, want: 422},
			hostileCase{name: "export operator_id " + inj, method: "GET", path: audit + "/export?operator_id=" + qv, want: 422},
			hostileCase{name: "get recommendation " + inj, method: "GET", path: rec + "/" + pv, want: 422},
			hostileCase{name: "trace " + inj, method: "GET", path: rec + "/" + pv + "/trace", want: 422},
			hostileCase{name: "approve " + inj, method: "POST", path: rec + "/" + pv + "/approve", body: `{}`, want: 422},
			hostileCase{name: "reject " + inj, method: "POST", path: rec + "/" + pv + "/reject", body: `{"reason": "x"}`, want: 422},
			hostileCase{name: "modify " + inj, method: "PATCH", path: rec + "/" + pv, body: `{"title": "x"}`, want: 422},
			hostileCase{name: "user " + inj, method: "GET", path: "/api/operator/users/" + pv, want: 422},
			hostileCase{name: "signals " + inj, method: "GET", path: "/api/operator/users/" + pv + "/signals", want: 422},
			hostileCase{name: "resolve " + inj, method: "POST", path: "/api/operator/flags/" + pv + "/resolve", token: "senior_operator", body: `{"resolution": "requeue", "notes": "x"}`, want: 422},
			hostileCase{name: "retry " + inj, method: "POST", path: "/api/operator/deliveries/" + pv + "/retry", token: "admin", want: 422},
		)
	}
	// /stats takes any operator_id up to 128 characters (no operator has it:
	// zeros), as the public dashboard sends a non-id there.
	for _, inj := range injections {
		want := 200
		if len(inj) > 128 {
			want = 422
		}
		cs = append(cs, hostileCase{name: "stats operator_id " + inj, method: "GET", path: stats + "?operator_id=" + qe(inj), want: want})
	}
	return cs
}
