package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario is one kind of request stream.
type scenario struct {
	name  string
	desc  string
	write bool // consumes pending ids; runs after the reads
	rate  int  // default offered rate, requests/s
	items int  // items per request (bulk, ingest), for items/s
	// maxWorkers caps the concurrent requests of a maximum-rate run (0: Config.Workers).
	maxWorkers int
	// gen fills in request n. It returns errNoIDs when the ids ran out.
	gen func(e *env, r *run, n uint64, t *vegeta.Target) error
	// mixed scenarios report reads and actions separately.
	mixed bool
	// newIDs: writes that make their own ids instead of using pending ones.
	newIDs bool
	// maxRate runs the scenario at maximum rate whatever the offered rate
	// (its figure is a throughput to compare with another run's).
	maxRate bool
	// streams is the number of live streams held open on the first server
	// during the run (their latency is reported with the result).
	streams int
}

// Offered rates are the targets where it names one (list 500/s,
// actions 2,500/s), and otherwise a busy operator team's load (audit
// queries, which auditors run, at 100/s); saturation runs find the
// ceilings.
var scenarios = []*scenario{
	{name: "list", rate: 500, desc: "list pending, no filter, first page (limit 100)", gen: genList},
	{name: "list-filtered", rate: 500, desc: "list pending filtered by persona / priority / type and combinations, first page", gen: genListFiltered},
	{name: "list-deep", rate: 500, desc: "list pending ~50 pages deep (keyset cursor), with and without filters", gen: genListDeep},
	{name: "get", rate: 1000, desc: "get one recommendation", gen: genGet},
	{name: "trace", rate: 1000, desc: "decision trace of one recommendation", gen: genTrace},
	{name: "signals", rate: 1000, desc: "a user's signals (30d and 180d windows)", gen: genSignals},
	{name: "stats", rate: 1000, desc: "dashboard stats (UTC, America/New_York, one operator)", gen: genStats},
	// The dashboard polls alerts every 60 s per open page, and opens
	// analytics now and then: these rates are a large operator team's.
	{name: "alerts", rate: 20, desc: "alerts (every type evaluated)", gen: genAlerts},
	{name: "analytics-30d", rate: 5, desc: "analytics over the last 30 days (UTC, America/New_York)", gen: genAnalytics(30)},
	{name: "analytics-366d", rate: 2, desc: "analytics over the last 366 days (UTC, America/New_York)", gen: genAnalytics(366)},
	{name: "card-tags", rate: 4000, desc: "the dashboard's cards asking for their tags: GET …/{id}/tags for each of the 100 cards of a page, over the first 10 pending pages", gen: genCardTags},
	{name: "audit", rate: 100, desc: "audit-log query with filters (operator, action, dates, recommendation), limit 100, with total", gen: genAudit},
	{name: "approve", write: true, rate: 2500, desc: "approve one pending item (never the same id twice)", gen: genAction("approve")},
	{name: "reject", write: true, rate: 2500, desc: "reject one pending item", gen: genAction("reject")},
	{name: "modify", write: true, rate: 2500, desc: "edit the title of one pending item", gen: genAction("modify")},
	{name: "flag", write: true, rate: 2500, desc: "flag one pending item", gen: genAction("flag")},
	{name: "bulk-100", write: true, rate: 20, items: 100, desc: "bulk-approve 100 unique pending ids", gen: genBulk(100), maxWorkers: 4},
	{name: "bulk-1000", write: true, rate: 2, items: 1000, desc: "bulk-approve 1,000 unique pending ids", gen: genBulk(1000), maxWorkers: 2},
	{name: "ingest-1000", write: true, newIDs: true, rate: 2, items: 1000, desc: "ingest 1,000 new recommendations with traces", gen: genIngest, maxWorkers: 2},
	{name: "approve-max", write: true, maxRate: true, desc: "approve one pending item at maximum rate, no live streams (the baseline of streams-1000)", gen: genAction("approve")},
	{name: "streams-1000", write: true, maxRate: true, streams: 1000, desc: "approve-max with 1,000 live streams open on the first server, every approval reaching each", gen: genAction("approve")},
	{name: "mixed", write: true, rate: 1000, mixed: true, desc: "operator workload: 70% reads (lists, get, trace, signals, stats), 30% actions (approve, reject, flag, modify)", gen: genMixed},
}

func scenarioByName(name string) *scenario {
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	return nil
}

// ScenarioNames lists every scenario, in the order they run.
func ScenarioNames() []string { return scenarioNames() }

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// selectScenarios returns the named scenarios in their canonical order:
// reads before the writes that change what the reads see.
func selectScenarios(names []string) []*scenario {
	if len(names) == 0 {
		return scenarios
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out
}

// Request helpers. The load spreads round-robin over the servers and the
// operators.

const opBase = "/api/operator"

func (e *env) base(n uint64) string { return e.bases[n%uint64(len(e.bases))] }

func (e *env) opHeader(n uint64) http.Header {
	return http.Header{"Authorization": {"Bearer " + e.opTokens[n%uint64(len(e.opTokens))]}}
}

func (e *env) getTarget(n uint64, t *vegeta.Target, path string) {
	t.Method, t.URL, t.Header = http.MethodGet, e.base(n)+path, e.opHeader(n)
}

func (e *env) postTarget(n uint64, t *vegeta.Target, method, path string, body []byte, token string) {
	t.Method, t.URL, t.Body = method, e.base(n)+path, body
	if token == "" {
		t.Header = e.opHeader(n)
	} else {
		t.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	t.Header.Set("Content-Type", "application/json")
}

// pick spreads n over a slice without following it in order (a stride
// coprime to most lengths), so consecutive requests hit different rows.
func pick[T any](xs []T, n uint64) T { return xs[(n*7919)%uint64(len(xs))] }

func genList(e *env, _ *run, n uint64, t *vegeta.Target) error {
	e.getTarget(n, t, opBase+"/recommendations?limit=100")
	return nil
}

func genListFiltered(e *env, _ *run, n uint64, t *vegeta.Target) error {
	e.getTarget(n, t, opBase+"/recommendations?limit=100&"+listVariants[n%uint64(len(listVariants))])
	return nil
}

func genListDeep(e *env, _ *run, n uint64, t *vegeta.Target) error {
	d := e.deep[n%uint64(len(e.deep))]
	q := "limit=100"
	if d.cursor != "" {
		q += "&cursor=" + url.QueryEscape(d.cursor)
	}
	if d.query != "" {
		q += "&" + d.query
	}
	e.getTarget(n, t, opBase+"/recommendations?"+q)
	return nil
}

func genGet(e *env, _ *run, n uint64, t *vegeta.Target) error {
	e.getTarget(n, t, opBase+"/recommendations/"+url.PathEscape(pick(e.recIDs, n)))
	return nil
}

func genTrace(e *env, _ *run, n uint64, t *vegeta.Target) error {
	e.getTarget(n, t, opBase+"/recommendations/"+url.PathEscape(pick(e.recIDs, n))+"/trace")
	return nil
}

// genCardTags walks the first pages card by card, as a page load does:
// request n is card n%100 of page (n/100)%pages.
func genCardTags(e *env, _ *run, n uint64, t *vegeta.Target) error {
	ids := e.pageIDs
	if len(ids) == 0 {
		ids = e.recIDs
	}
	e.getTarget(n, t, opBase+"/recommendations/"+url.PathEscape(ids[n%uint64(len(ids))])+"/tags")
	return nil
}

func genSignals(e *env, _ *run, n uint64, t *vegeta.Target) error {
	w := "30d"
	if n%2 == 1 {
		w = "180d"
	}
	e.getTarget(n, t, opBase+"/users/"+url.PathEscape(pick(e.userIDs, n))+"/signals?window_type="+w)
	return nil
}

func genStats(e *env, _ *run, n uint64, t *vegeta.Target) error {
	var q string
	switch n % 3 {
	case 0:
		q = "tz=UTC"
	case 1:
		q = "tz=America%2FNew_York"
	default:
		q = "operator_id=" + url.QueryEscape(pick(e.auditOps, n))
	}
	e.getTarget(n, t, opBase+"/stats?"+q)
	return nil
}

func genAlerts(e *env, _ *run, n uint64, t *vegeta.Target) error {
	e.getTarget(n, t, opBase+"/alerts")
	return nil
}

func genAnalytics(days int) func(e *env, r *run, n uint64, t *vegeta.Target) error {
	return func(e *env, _ *run, n uint64, t *vegeta.Target) error {
		tz := "UTC"
		if n%2 == 1 {
			tz = "America%2FNew_York"
		}
		start := e.day.AddDate(0, 0, 1-days).Format("2006-01-02")
		e.getTarget(n, t, opBase+"/analytics?start_date="+start+"&end_date="+e.day.Format("2006-01-02")+"&tz="+tz)
		return nil
	}
}

func genAudit(e *env, _ *run, n uint64, t *vegeta.Target) error {
	op := url.QueryEscape(pick(e.auditOps, n))
	day := func(d int) string { return e.day.AddDate(0, 0, d).Format("2006-01-02") }
	var q string
	switch n % 6 {
	case 0:
		q = "operator_id=" + op
	case 1:
		q = "action=" + []string{"approve", "reject", "flag", "modify"}[(n/6)%4]
	case 2:
		q = "operator_id=" + op + "&action=approve"
	case 3:
		q = "start_date=" + day(-7) + "&end_date=" + day(-1)
	case 4:
		q = "recommendation_id=" + url.QueryEscape(pick(e.auditRec, n))
	default:
		q = "operator_id=" + op + "&start_date=" + day(-30) + "&end_date=" + day(0)
	}
	e.getTarget(n, t, opBase+"/audit-logs?limit=100&"+q)
	return nil
}

// take hands out the next unused pending id within the run's budget.
func (e *env) take(r *run) (string, error) {
	if r.budget <= 0 {
		return "", errNoIDs
	}
	if r.taken.Add(1) > int64(r.budget) {
		return "", errNoIDs
	}
	id, ok := e.pool.take()
	if !ok {
		return "", errNoIDs
	}
	return id, nil
}

var (
	approveBody = []byte(`{"notes":"checked by the load benchmark"}`)
	rejectBody  = []byte(`{"reason":"not suitable for this customer (load benchmark)"}`)
	flagBody    = []byte(`{"reason":"needs a senior look (load benchmark)"}`)
)

func genAction(kind string) func(e *env, r *run, n uint64, t *vegeta.Target) error {
	return func(e *env, r *run, n uint64, t *vegeta.Target) error {
		id, err := e.take(r)
		if err != nil {
			return err
		}
		path := opBase + "/recommendations/" + url.PathEscape(id)
		switch kind {
		case "approve":
			e.postTarget(n, t, http.MethodPost, path+"/approve", approveBody, "")
		case "reject":
			e.postTarget(n, t, http.MethodPost, path+"/reject", rejectBody, "")
		case "flag":
			e.postTarget(n, t, http.MethodPost, path+"/flag", flagBody, "")
		case "modify":
			e.postTarget(n, t, http.MethodPatch, path, []byte(`{"title":"Edited by the load benchmark (`+strconv.FormatUint(n, 10)+`)"}`), "")
		}
		return nil
	}
}

func genBulk(size int) func(e *env, r *run, n uint64, t *vegeta.Target) error {
	return func(e *env, r *run, n uint64, t *vegeta.Target) error {
		ids := make([]string, 0, size)
		for len(ids) < size {
			id, err := e.take(r)
			if err != nil {
				return err // a short last batch would skew the per-request figure
			}
			ids = append(ids, id)
		}
		body, _ := json.Marshal(map[string]any{"recommendation_ids": ids, "notes": "bulk approval by the load benchmark"})
		e.postTarget(n, t, http.MethodPost, opBase+"/recommendations/bulk-approve", body, "")
		return nil
	}
}

// ingestSeq numbers ingested recommendations across runs of one process.
var ingestSeq atomic.Int64

func genIngest(e *env, r *run, n uint64, t *vegeta.Target) error {
	var b bytes.Buffer
	b.WriteString(`{"recommendations":[`)
	now := time.Now().UTC()
	ts := now.Format(time.RFC3339Nano)
	personas := []string{"high_utilization", "variable_income_budgeter", "subscription_heavy", "savings_builder", "student"}
	types := []string{"article", "video", "tool", "quiz", "partner_offer"}
	prios := []string{"high", "medium", "low"}
	prefix := "bench_ing_" + e.secret[:8] + "_"
	for i := 0; i < 1000; i++ {
		k := ingestSeq.Add(1)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s%d","user_id":%q,"persona_primary":%q,"type":%q,"title":"Benchmark recommendation %d",`+
			`"rationale":"Your recent spending shows a pattern this content explains; it is educational, not advice (%d).",`+
			`"priority":%q,"content_url":"https://learn.example.com/c/%d","read_time_minutes":%d,`+
			`"guardrails_passed":{"tone_check":true,"advice_check":true,"eligibility_check":%t},"generated_at":%q,`+
			`"trace":{"signals_detected_at":%q,"persona_assigned_at":%q,"content_matched_at":%q,"rationale_generated_at":%q,"guardrails_checked_at":%q,`+
			`"signals":{"credit":{"aggregate_utilization_pct":%d}},"persona_assignment":{"primary_persona":%q,"primary_match_strength":0.82,"criteria_met":["utilization above 50%%"]},`+
			`"content_matches":[{"content_id":"c%d","title":"Benchmark content","relevance_score":0.91,"match_reason":"persona fit"}],"relevance_scores":{"c%d":0.91},"llm_model":"gpt-4o-mini","temperature":0.3,"tokens_used":%d}}`,
			prefix, k, pick(e.userIDs, uint64(k)), personas[k%5], types[(k/5)%5], k, k, prios[k%3], k%500, 3+k%10, k%17 != 0, ts,
			ts, ts, ts, ts, ts, k%100, personas[k%5], k%500, k%500, 300+k%400)
	}
	b.WriteString(`]}`)
	e.postTarget(n, t, http.MethodPost, "/api/ingest/recommendations", b.Bytes(), e.ingestToken)
	return nil
}

// mixedPlan is 20 slots: 14 reads (70%) and 6 actions (30%).
var mixedPlan = []func(e *env, r *run, n uint64, t *vegeta.Target) error{
	genList, genListFiltered, genGet, genList, genTrace, genGet, genAction("approve"), genListFiltered, genSignals, genStats,
	genAction("approve"), genList, genGet, genAction("reject"), genListDeep, genTrace, genAction("flag"), genGet, genList, genAction("modify"),
}

func genMixed(e *env, r *run, n uint64, t *vegeta.Target) error {
	return mixedPlan[n%uint64(len(mixedPlan))](e, r, n, t)
}
