package seed_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/seed"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var anchor = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func small(s int64) seed.Options {
	return seed.Options{Users: 50, Recommendations: 500, Seed: s, Now: anchor}
}

func mustGenerate(t *testing.T, s *store.Store, o seed.Options) seed.Summary {
	t.Helper()
	sum, err := seed.Generate(context.Background(), s, o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return sum
}

func count(t *testing.T, s *store.Store, q string) int {
	t.Helper()
	var n int
	if err := s.Read.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestGenerateCounts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		sum := mustGenerate(t, s, small(1))
		for _, c := range []struct {
			table string
			got   int
			want  int
		}{
			{"users", count(t, s, "SELECT COUNT(*) FROM users"), 50},
			{"user_signals", count(t, s, "SELECT COUNT(*) FROM user_signals"), 100},
			{"user_personas", count(t, s, "SELECT COUNT(*) FROM user_personas"), 100},
			{"recommendations", count(t, s, "SELECT COUNT(*) FROM recommendations"), 500},
			{"decision_traces", count(t, s, "SELECT COUNT(*) FROM decision_traces"), 500},
			{"summary users", sum.Users, 50},
			{"summary recommendations", sum.Recommendations, 500},
			{"summary traces", sum.DecisionTraces, 500},
			{"summary persona_history", sum.PersonaHistory, count(t, s, "SELECT COUNT(*) FROM persona_history")},
			{"summary audit", sum.AuditLogs, count(t, s, "SELECT COUNT(*) FROM operator_audit_log")},
			{"summary flags", sum.Flags, count(t, s, "SELECT COUNT(*) FROM recommendation_flags")},
			{"summary open flags", sum.OpenFlags, count(t, s, "SELECT COUNT(*) FROM recommendation_flags WHERE resolved = false")},
			{"summary deliveries", sum.Deliveries, count(t, s, "SELECT COUNT(*) FROM deliveries")},
			{"summary guardrail failures", sum.GuardrailFailures, count(t, s, "SELECT COUNT(*) FROM recommendations WHERE guardrails_passed = false")},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %d, want %d", c.table, c.got, c.want)
			}
		}
		for _, st := range review.Statuses {
			if got, want := sum.ByStatus[st], count(t, s, "SELECT COUNT(*) FROM recommendations WHERE status = '"+st+"'"); got != want {
				t.Errorf("summary status %s: %d, database %d", st, got, want)
			}
		}
		if h := sum.PersonaHistory; h < 100 || h > 400 {
			t.Errorf("persona history rows = %d, want 1–4 per user and window", h)
		}
		if sum.Rows() <= 1300 || sum.Now != anchor {
			t.Errorf("summary: %+v", sum)
		}
		t.Logf("%+v", sum)
	})
}

func TestGenerateMix(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		sum := mustGenerate(t, s, seed.Options{Users: 200, Recommendations: 4000, Seed: 7, Now: anchor})
		frac := func(n int) float64 { return float64(n) / float64(sum.Recommendations) }
		within := func(name string, got, lo, hi float64) {
			t.Helper()
			if got < lo || got > hi {
				t.Errorf("%s = %.3f, want %.2f–%.2f", name, got, lo, hi)
			}
		}
		within("pending", frac(sum.ByStatus["pending"]), 0.48, 0.62)
		within("approved", frac(sum.ByStatus["approved"]), 0.19, 0.31)
		within("rejected", frac(sum.ByStatus["rejected"]), 0.09, 0.18)
		within("flagged", frac(sum.ByStatus["flagged"]), 0.05, 0.12)
		within("guardrail failures", frac(sum.GuardrailFailures), 0.05, 0.11)
		for _, col := range []struct {
			name string
			want []string
		}{{"type", review.Types}, {"persona_primary", review.Personas}, {"priority", review.Priorities}} {
			rows, err := s.Read.Query("SELECT " + col.name + ", COUNT(*) FROM recommendations GROUP BY " + col.name)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for rows.Next() {
				var k string
				var n int
				if err := rows.Scan(&k, &n); err != nil {
					t.Fatal(err)
				}
				got[k] = n
			}
			rows.Close()
			for _, w := range col.want {
				if frac(got[w]) < 0.03 {
					t.Errorf("%s %s: only %d of %d", col.name, w, got[w], sum.Recommendations)
				}
			}
			if len(got) != len(col.want) {
				t.Errorf("%s values: %v", col.name, got)
			}
		}
		for _, a := range []string{"approve", "reject", "flag", "resolve_flag", "modify"} {
			if sum.ByAction[a] == 0 {
				t.Errorf("no %s audit rows: %v", a, sum.ByAction)
			}
		}
		for _, d := range []string{"delivered", "failed", "queued"} {
			if sum.ByDelivery[d] == 0 {
				t.Errorf("no %s deliveries: %v", d, sum.ByDelivery)
			}
		}
		if sum.ByDelivery["delivered"] < sum.Deliveries*8/10 {
			t.Errorf("deliveries: %v, want mostly delivered", sum.ByDelivery)
		}
	})
}

// check runs the product's own invariant check, after giving the queued
// deliveries their jobs as the seed command does.
func check(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	q, err := delivery.New(delivery.Config{Store: s, InsertOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequeueDeliveryGaps(ctx, q.Enqueuer()); err != nil {
		t.Fatal(err)
	}
	v, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		t.Errorf("invariant %q broken by %d rows, e.g. %v", x.Invariant, x.Count, x.Examples)
	}
}

func TestStoreCheck(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		mustGenerate(t, s, seed.Options{Users: 100, Recommendations: 2000, Seed: 3, Now: anchor})
		check(t, s)
	})
}

type auditRow struct {
	id, op, action string
	meta           map[string]any
	at             time.Time
}

type flagRow struct {
	id, by, reason                string
	resolved                      bool
	resolvedBy, resolution, notes sql.NullString
	flaggedAt                     time.Time
	resolvedAt                    store.NullTime
}

// TestConsistency replays every recommendation's audit trail through the
// status machine and checks that the row, its flags, its delivery and its
// trace agree with it.
func TestConsistency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		mustGenerate(t, s, seed.Options{Users: 100, Recommendations: 2000, Seed: 11, Now: anchor})
		ctx := context.Background()

		audits := map[string][]auditRow{}
		rows, err := s.Read.QueryContext(ctx, `SELECT audit_id, operator_id, action, recommendation_id, metadata, timestamp
FROM operator_audit_log ORDER BY recommendation_id, timestamp, audit_id`)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for rows.Next() {
			var a auditRow
			var rec, meta string
			var at store.Time
			if err := rows.Scan(&a.id, &a.op, &a.action, &rec, &meta, &at); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(meta), &a.meta); err != nil {
				t.Fatalf("audit %s metadata %q: %v", a.id, meta, err)
			}
			a.at = at.Time
			if ids[a.id] {
				t.Errorf("duplicate audit id %s", a.id)
			}
			ids[a.id] = true
			audits[rec] = append(audits[rec], a)
		}
		rows.Close()

		flags := map[string]map[string]*flagRow{}
		rows, err = s.Read.QueryContext(ctx, `SELECT flag_id, recommendation_id, flagged_by, flag_reason, resolved, resolved_by,
 resolved_at, resolution, resolution_notes, flagged_at FROM recommendation_flags`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var f flagRow
			var rec string
			var at store.Time
			if err := rows.Scan(&f.id, &rec, &f.by, &f.reason, &f.resolved, &f.resolvedBy, &f.resolvedAt, &f.resolution, &f.notes, &at); err != nil {
				t.Fatal(err)
			}
			f.flaggedAt = at.Time
			if flags[rec] == nil {
				flags[rec] = map[string]*flagRow{}
			}
			flags[rec][f.id] = &f
		}
		rows.Close()

		type delivery struct {
			status            string
			attempts          int
			lastErr           sql.NullString
			queued, updated   time.Time
			delivered, failed store.NullTime
		}
		deliveries := map[string]delivery{}
		rows, err = s.Read.QueryContext(ctx, `SELECT recommendation_id, status, attempts, last_error, queued_at, delivered_at, failed_at, updated_at FROM deliveries`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d delivery
			var id string
			var q, u store.Time
			if err := rows.Scan(&id, &d.status, &d.attempts, &d.lastErr, &q, &d.delivered, &d.failed, &u); err != nil {
				t.Fatal(err)
			}
			d.queued, d.updated = q.Time, u.Time
			deliveries[id] = d
		}
		rows.Close()

		type traceRow struct {
			steps                        [5]time.Time
			signals, assign, matches, sc string
			model                        string
			temp                         float64
			tokens                       int
			created                      time.Time
		}
		traces := map[string]traceRow{}
		rows, err = s.Read.QueryContext(ctx, `SELECT recommendation_id, signals_detected_at, persona_assigned_at, content_matched_at,
 rationale_generated_at, guardrails_checked_at, signals_json, persona_assignment_json, content_matches_json, relevance_scores_json,
 llm_model, temperature, tokens_used, created_at FROM decision_traces`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tr traceRow
			var id string
			var st [5]store.Time
			var created store.Time
			if err := rows.Scan(&id, &st[0], &st[1], &st[2], &st[3], &st[4], &tr.signals, &tr.assign, &tr.matches, &tr.sc,
				&tr.model, &tr.temp, &tr.tokens, &created); err != nil {
				t.Fatal(err)
			}
			for i := range st {
				tr.steps[i] = st[i].Time
			}
			tr.created = created.Time
			traces[id] = tr
		}
		rows.Close()

		recs, _, err := s.ListRecommendations(ctx, store.ListFilter{Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2000 {
			t.Fatalf("listed %d recommendations", len(recs))
		}
		seniors := map[string]bool{"op_007": true, "op_008": true}
		for _, r := range recs {
			fail := func(format string, args ...any) {
				t.Helper()
				t.Errorf("%s (%s): %s", r.ID, r.Status, fmt.Sprintf(format, args...))
			}
			if r.CreatedAt.Before(anchor.Add(-30*24*time.Hour)) || !r.CreatedAt.Before(anchor) {
				fail("created_at %v outside the 30 days before %v", r.CreatedAt, anchor)
			}
			if !r.GeneratedAt.Before(r.CreatedAt) {
				fail("generated_at %v not before created_at %v", r.GeneratedAt, r.CreatedAt)
			}
			if (r.Type == "article" || r.Type == "video") && (r.ContentURL == nil || r.ReadTimeMinutes == nil || *r.ReadTimeMinutes <= 0) {
				fail("%s without content_url or read time", r.Type)
			}
			if r.Title == "" || len(r.Rationale) < 60 || !strings.ContainsAny(r.Rationale, "0123456789") {
				fail("title %q / rationale %q: want a title and a rationale citing numbers", r.Title, r.Rationale)
			}
			if !slices.Contains(review.Personas, r.PersonaPrimary) || !slices.Contains(review.Types, r.Type) || !slices.Contains(review.Priorities, r.Priority) {
				fail("bad enum: %s %s %s", r.PersonaPrimary, r.Type, r.Priority)
			}

			// Replay the audit trail.
			trail := audits[r.ID]
			status := review.StatusPending
			var openFlag string
			var approvedBy, rejectedBy, modifiedBy string
			var approvedAt, rejectedAt, modifiedAt time.Time
			last := r.CreatedAt
			for _, a := range trail {
				if !a.at.After(last) || a.at.After(anchor) {
					fail("audit %s at %v: not after %v or after now", a.action, a.at, last)
				}
				last = a.at
				switch a.action {
				case "modify":
					if status != review.StatusPending && status != review.StatusFlagged {
						fail("modify while %s", status)
					}
					mods, _ := a.meta["modifications"].(map[string]any)
					if len(mods) != 1 {
						fail("modify metadata %v", a.meta)
					}
					for _, m := range mods {
						c, _ := m.(map[string]any)
						if c["from"] == nil || c["to"] == nil || c["from"] == c["to"] {
							fail("modification %v", m)
						}
					}
					modifiedBy, modifiedAt = a.op, a.at
				case "flag":
					if status != review.StatusPending {
						fail("flag while %s", status)
					}
					id, _ := a.meta["flag_id"].(string)
					f := flags[r.ID][id]
					if f == nil || a.meta["reason"] != f.reason || f.by != a.op || !f.flaggedAt.Equal(a.at) {
						fail("flag audit %v does not match its flag row %+v", a.meta, f)
					}
					status, openFlag = review.StatusFlagged, id
				case "resolve_flag":
					if status != review.StatusFlagged {
						fail("resolve while %s", status)
					}
					if !seniors[a.op] {
						fail("flag resolved by %s, not a senior operator", a.op)
					}
					res, _ := a.meta["resolution"].(string)
					f := flags[r.ID][openFlag]
					if a.meta["flag_id"] != openFlag || f == nil || !f.resolved || f.resolution.String != res ||
						f.resolvedBy.String != a.op || !f.resolvedAt.Valid || !f.resolvedAt.Time.Equal(a.at) || f.notes.String != a.meta["notes"] {
						fail("resolve audit %v does not match flag %+v", a.meta, f)
					}
					openFlag = ""
					target, ok := review.ResolutionTarget(res)
					if !ok || a.meta["to_status"] != string(target) {
						fail("resolution %v", a.meta)
					}
					status = target
					switch target {
					case review.StatusApproved:
						approvedBy, approvedAt = a.op, a.at
						if !r.Guardrails.All() && a.meta["override_guardrails"] != true {
							fail("approved past failed guardrails without override: %v", a.meta)
						}
					case review.StatusRejected:
						rejectedBy, rejectedAt = a.op, a.at
						if r.OperatorNotes == nil || *r.OperatorNotes != a.meta["notes"] {
							fail("operator_notes %v, want resolution notes %v", r.OperatorNotes, a.meta["notes"])
						}
					}
				case "approve":
					if status != review.StatusPending {
						fail("approve while %s", status)
					}
					status, approvedBy, approvedAt = review.StatusApproved, a.op, a.at
					if _, ok := a.meta["notes"].(string); !ok {
						fail("approve metadata %v", a.meta)
					}
					if !r.Guardrails.All() {
						if a.meta["override_guardrails"] != true || !seniors[a.op] || a.meta["notes"] == "" {
							fail("approved past failed guardrails without a senior override: %v by %s", a.meta, a.op)
						}
					}
				case "reject":
					if status != review.StatusPending {
						fail("reject while %s", status)
					}
					status, rejectedBy, rejectedAt = review.StatusRejected, a.op, a.at
					if r.OperatorNotes == nil || a.meta["reason"] != *r.OperatorNotes {
						fail("operator_notes %v, reject reason %v", r.OperatorNotes, a.meta["reason"])
					}
				default:
					fail("unexpected action %s", a.action)
				}
			}
			if status != r.Status {
				fail("audit trail ends in %s", status)
			}
			if want := int64(1 + len(trail)); r.Version != want {
				fail("version %d, want %d", r.Version, want)
			}
			if !r.UpdatedAt.Equal(last) {
				fail("updated_at %v, want %v", r.UpdatedAt, last)
			}
			eqp := func(name string, gotBy *string, gotAt *time.Time, by string, at time.Time) {
				t.Helper()
				switch {
				case by == "" && (gotBy != nil || gotAt != nil):
					fail("%s set (%v) without an audit row", name, gotBy)
				case by != "" && (gotBy == nil || gotAt == nil || *gotBy != by || !gotAt.Equal(at)):
					fail("%s = %v/%v, want %s/%v", name, gotBy, gotAt, by, at)
				}
			}
			eqp("approved", r.ApprovedBy, r.ApprovedAt, approvedBy, approvedAt)
			eqp("rejected", r.RejectedBy, r.RejectedAt, rejectedBy, rejectedAt)
			eqp("modified", r.ModifiedBy, r.ModifiedAt, modifiedBy, modifiedAt)

			open := 0
			for _, f := range flags[r.ID] {
				if !f.resolved {
					open++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[r.Status == review.StatusFlagged]; open != want {
				fail("%d open flags", open)
			}
			d, ok := deliveries[r.ID]
			if ok != (r.Status == review.StatusApproved) {
				fail("delivery row present = %v", ok)
			}
			if ok {
				if r.DeliveryStatus == nil || *r.DeliveryStatus != d.status || !d.queued.Equal(approvedAt) || d.updated.Before(d.queued) || d.updated.After(anchor) {
					fail("delivery %+v", d)
				}
				switch d.status {
				case "delivered":
					if !d.delivered.Valid || d.attempts < 1 || d.lastErr.Valid {
						fail("delivered %+v", d)
					}
				case "failed":
					if !d.failed.Valid || d.attempts < 1 || !d.lastErr.Valid {
						fail("failed %+v", d)
					}
				case "queued":
					if d.delivered.Valid || d.failed.Valid {
						fail("queued %+v", d)
					}
				}
			}

			tr, ok := traces[r.ID]
			if !ok {
				fail("no trace")
				continue
			}
			for i := 1; i < len(tr.steps); i++ {
				if !tr.steps[i].After(tr.steps[i-1]) {
					fail("trace steps out of order: %v", tr.steps)
				}
			}
			if !tr.steps[4].Before(r.GeneratedAt) || !tr.created.Equal(r.CreatedAt) {
				fail("trace times %v / %v", tr.steps, tr.created)
			}
			if tr.model == "" || tr.temp <= 0 || tr.tokens <= 0 {
				fail("trace llm %s %v %d", tr.model, tr.temp, tr.tokens)
			}
			var matches []map[string]any
			var assign, scores, sig map[string]any
			for _, d := range []struct {
				doc string
				v   any
			}{{tr.matches, &matches}, {tr.assign, &assign}, {tr.sc, &scores}, {tr.signals, &sig}} {
				if err := json.Unmarshal([]byte(d.doc), d.v); err != nil {
					fail("trace JSON %q: %v", d.doc, err)
				}
			}
			if len(matches) < 3 || matches[0]["relevance_score"].(float64) < matches[1]["relevance_score"].(float64) || matches[0]["match_reason"] == "" {
				fail("content matches %v", matches)
			}
			if assign["primary_persona"] == nil || assign["primary_match_strength"] == nil || scores["overall"] == nil ||
				sig["window_type"] != "30d" || len(sig) < 2 {
				fail("trace documents %v %v %v", assign, scores, sig)
			}
			// Exactly the contract's shape: what ingest accepts.
			if err := review.CheckTraceShape(&review.IngestTrace{Signals: json.RawMessage(tr.signals), PersonaAssignment: json.RawMessage(tr.assign),
				ContentMatches: json.RawMessage(tr.matches), RelevanceScores: json.RawMessage(tr.sc)}); err != nil {
				fail("trace shape: %v", err)
			}
		}
	})
}

// TestSignalsShape checks the stored signals against the contract's shape,
// field by field, and the personas against the signals.
func TestSignalsShape(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		mustGenerate(t, s, seed.Options{Users: 300, Recommendations: 10, Seed: 5, Now: anchor})
		type merchant struct {
			Name   string  `json:"name"`
			Amount float64 `json:"amount"`
		}
		type signals struct {
			Credit struct {
				Util      *float64 `json:"aggregate_utilization_pct"`
				Used      *float64 `json:"total_credit_used"`
				Available *float64 `json:"total_credit_available"`
				Interest  *bool    `json:"any_interest_charges"`
			} `json:"credit"`
			Subscriptions struct {
				Count     *int       `json:"recurring_merchant_count"`
				Monthly   *float64   `json:"monthly_recurring_spend"`
				Share     *float64   `json:"subscription_share_pct"`
				Merchants []merchant `json:"merchants"`
			} `json:"subscriptions"`
			Savings struct {
				Balance   *float64 `json:"total_savings_balance"`
				Growth    *float64 `json:"savings_growth_rate_pct"`
				Inflow    *float64 `json:"net_savings_inflow"`
				Emergency *float64 `json:"emergency_fund_months"`
			} `json:"savings"`
			Income struct {
				Type        string   `json:"income_type"`
				Frequency   string   `json:"payment_frequency"`
				Gap         *int     `json:"median_pay_gap_days"`
				Variability *float64 `json:"income_variability_pct"`
				Buffer      *float64 `json:"cash_flow_buffer_months"`
				Monthly     *float64 `json:"monthly_income"`
			} `json:"income"`
		}
		rows, err := s.Read.Query(`SELECT s.user_id, s.window_type, s.signals_json, p.persona_primary, p.match_strength
FROM user_signals s JOIN user_personas p ON p.user_id = s.user_id AND p.window_type = s.window_type ORDER BY s.user_id, s.window_type`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		personas := map[string]int{}
		n := 0
		for rows.Next() {
			var user, window, doc, persona string
			var strength float64
			if err := rows.Scan(&user, &window, &doc, &persona, &strength); err != nil {
				t.Fatal(err)
			}
			n++
			personas[persona]++
			var sg signals
			dec := json.NewDecoder(strings.NewReader(doc))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sg); err != nil {
				t.Fatalf("%s %s: %v in %s", user, window, err, doc)
			}
			c, sub, sv, in := sg.Credit, sg.Subscriptions, sg.Savings, sg.Income
			if c.Util == nil || c.Used == nil || c.Available == nil || c.Interest == nil ||
				sub.Count == nil || sub.Monthly == nil || sub.Share == nil || sub.Merchants == nil ||
				sv.Balance == nil || sv.Growth == nil || sv.Inflow == nil || sv.Emergency == nil ||
				in.Gap == nil || in.Variability == nil || in.Buffer == nil || in.Monthly == nil {
				t.Fatalf("%s %s: missing fields in %s", user, window, doc)
			}
			if !slices.Contains([]string{"salaried", "hourly", "gig", "self_employed", "benefits", "mixed"}, in.Type) ||
				!slices.Contains([]string{"weekly", "biweekly", "semimonthly", "monthly", "irregular"}, in.Frequency) {
				t.Errorf("%s: income %q %q", user, in.Type, in.Frequency)
			}
			if *sub.Count != len(sub.Merchants) || *c.Util < 0 || *c.Util > 100 || *c.Used > *c.Available+0.01 || *in.Monthly <= 0 {
				t.Errorf("%s %s: inconsistent signals %s", user, window, doc)
			}
			var total float64
			for _, m := range sub.Merchants {
				total += m.Amount
				if m.Name == "" || m.Amount <= 0 {
					t.Errorf("%s: merchant %+v", user, m)
				}
			}
			if d := total - *sub.Monthly; d > 0.01 || d < -0.01 {
				t.Errorf("%s %s: merchants add up to %.2f, monthly_recurring_spend %.2f", user, window, total, *sub.Monthly)
			}
			if strength <= 0 || strength > 1 {
				t.Errorf("%s: match strength %v", user, strength)
			}
			// Personas follow the signals.
			switch persona {
			case "high_utilization":
				if *c.Util < 30 {
					t.Errorf("%s %s: high_utilization at %.1f%% utilization", user, window, *c.Util)
				}
			case "subscription_heavy":
				if *sub.Count < 3 {
					t.Errorf("%s %s: subscription_heavy with %d subscriptions", user, window, *sub.Count)
				}
			case "student":
				if *in.Monthly >= 2200 {
					t.Errorf("%s %s: student earning %.0f a month", user, window, *in.Monthly)
				}
			}
		}
		if n != 600 {
			t.Errorf("%d signal rows", n)
		}
		for _, p := range review.Personas {
			if personas[p] < 15 {
				t.Errorf("persona %s assigned %d times of %d: %v", p, personas[p], n, personas)
			}
		}

		// Persona history: each window's entries change persona and end in the current one.
		hist := map[string][]string{}
		rows2, err := s.Read.Query(`SELECT user_id, window_type, persona_primary FROM persona_history ORDER BY user_id, window_type, recorded_at`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows2.Close()
		for rows2.Next() {
			var u, w, p string
			if err := rows2.Scan(&u, &w, &p); err != nil {
				t.Fatal(err)
			}
			k := u + "/" + w
			if h := hist[k]; len(h) > 0 && h[len(h)-1] == p {
				t.Errorf("%s: history repeats %s", k, p)
			}
			hist[k] = append(hist[k], p)
		}
		rows3, err := s.Read.Query(`SELECT user_id, window_type, persona_primary FROM user_personas`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows3.Close()
		for rows3.Next() {
			var u, w, p string
			if err := rows3.Scan(&u, &w, &p); err != nil {
				t.Fatal(err)
			}
			h := hist[u+"/"+w]
			if len(h) < 1 || len(h) > 4 || h[len(h)-1] != p {
				t.Errorf("%s/%s: history %v, current %s", u, w, h, p)
			}
		}
	})
}

// TestContentHash checks that seeded items carry the hash ingest computes,
// so that replaying one through the ingest API is "unchanged".
func TestContentHash(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		mustGenerate(t, s, small(2))
		rows, err := s.Read.Query(`SELECT r.recommendation_id, r.content_hash, t.signals_detected_at, t.persona_assigned_at, t.content_matched_at,
 t.rationale_generated_at, t.guardrails_checked_at, t.signals_json, t.persona_assignment_json, t.content_matches_json,
 t.relevance_scores_json, t.llm_model, t.temperature, t.tokens_used
FROM recommendations r JOIN decision_traces t ON t.recommendation_id = r.recommendation_id WHERE r.modified_by IS NULL`)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			id, hash string
			tr       review.IngestTrace
		}
		var all []row
		for rows.Next() {
			var x row
			var st [5]store.Time
			var sig, as, cm, rs string
			if err := rows.Scan(&x.id, &x.hash, &st[0], &st[1], &st[2], &st[3], &st[4], &sig, &as, &cm, &rs,
				&x.tr.LLMModel, &x.tr.Temperature, &x.tr.TokensUsed); err != nil {
				t.Fatal(err)
			}
			x.tr.SignalsDetectedAt, x.tr.PersonaAssignedAt, x.tr.ContentMatchedAt = st[0].Time, st[1].Time, st[2].Time
			x.tr.RationaleGeneratedAt, x.tr.GuardrailsCheckedAt = st[3].Time, st[4].Time
			x.tr.Signals, x.tr.PersonaAssignment, x.tr.ContentMatches, x.tr.RelevanceScores =
				json.RawMessage(sig), json.RawMessage(as), json.RawMessage(cm), json.RawMessage(rs)
			all = append(all, x)
		}
		rows.Close()
		if len(all) < 300 {
			t.Fatalf("only %d unmodified recommendations", len(all))
		}
		for _, x := range all {
			r, err := s.GetRecommendation(context.Background(), x.id)
			if err != nil {
				t.Fatal(err)
			}
			in := review.IngestRecommendation{ID: r.ID, UserID: r.UserID, PersonaPrimary: r.PersonaPrimary, PersonaSecondary: r.PersonaSecondary,
				Type: r.Type, Title: r.Title, Rationale: r.Rationale, Priority: r.Priority, ContentURL: r.ContentURL,
				ReadTimeMinutes: r.ReadTimeMinutes, GuardrailsPassed: r.Guardrails, GeneratedAt: r.GeneratedAt, Trace: &x.tr}
			want, err := in.ContentHash()
			if err != nil {
				t.Fatal(err)
			}
			if x.hash != want {
				t.Fatalf("%s: content_hash %s, ingest computes %s", x.id, x.hash, want)
			}
		}
	})
}

// dump renders every seeded table, ordered by key, as text.
func dump(t *testing.T, s *store.Store) string {
	t.Helper()
	var b bytes.Buffer
	for _, q := range []string{
		"SELECT * FROM users ORDER BY user_id",
		"SELECT * FROM user_signals ORDER BY user_id, window_type",
		"SELECT * FROM user_personas ORDER BY user_id, window_type",
		"SELECT * FROM persona_history ORDER BY history_id",
		"SELECT * FROM recommendations ORDER BY recommendation_id",
		"SELECT * FROM decision_traces ORDER BY trace_id",
		"SELECT * FROM operator_audit_log ORDER BY audit_id",
		"SELECT * FROM recommendation_flags ORDER BY flag_id",
		"SELECT * FROM deliveries ORDER BY recommendation_id",
	} {
		rows, err := s.Read.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintln(&b, q, cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case time.Time:
					b.WriteString(x.UTC().Format(time.RFC3339Nano))
				case []byte:
					b.Write(x)
				default:
					fmt.Fprint(&b, x)
				}
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

func digest(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:8])
}

func TestDeterministic(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		s2 := testdb.Open(t, s.Engine)
		s3 := testdb.Open(t, s.Engine)
		sum1 := mustGenerate(t, s, small(42))
		sum2 := mustGenerate(t, s2, small(42))
		mustGenerate(t, s3, small(43))
		d1, d2, d3 := dump(t, s), dump(t, s2), dump(t, s3)
		if d1 != d2 {
			a, b := strings.Split(d1, "\n"), strings.Split(d2, "\n")
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Fatalf("same seed, different data at line %d:\n%s\n%s", i, a[i], b[i])
				}
			}
			t.Fatalf("same seed, different data (%d vs %d lines)", len(a), len(b))
		}
		if d1 == d3 {
			t.Fatal("different seeds gave the same data")
		}
		sum1.Elapsed, sum2.Elapsed = 0, 0
		if !reflect.DeepEqual(sum1, sum2) {
			t.Errorf("summaries differ:\n%+v\n%+v", sum1, sum2)
		}
		t.Logf("dump %d bytes, digest %s", len(d1), digest(d1))
	})
}

func TestRefusesNonEmpty(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		mustGenerate(t, s, seed.Options{Users: 5, Recommendations: 20, Seed: 1, Now: anchor})
		before := dump(t, s)
		_, err := seed.Generate(context.Background(), s, seed.Options{Users: 5, Recommendations: 20, Seed: 2, Now: anchor})
		if review.ErrorCode(err) != review.EConflict || err.Error() != "database already has recommendations; seed only an empty database" {
			t.Fatalf("second seed: %v (%s)", err, review.ErrorCode(err))
		}
		if after := dump(t, s); after != before {
			t.Error("refused seed changed the database")
		}
		// The database is still fully usable afterwards, indexes included.
		check(t, s)
		if _, _, err := s.ListRecommendations(context.Background(), store.ListFilter{Status: "pending", Limit: 5}); err != nil {
			t.Error(err)
		}
	})
}

// TestSchemaRestored checks that the indexes and constraints dropped for the
// load are back, exactly as they were, and so are SQLite's journal settings.
func TestSchemaRestored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		indexes := func() []string {
			q := "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name"
			if s.Engine == store.Postgres {
				q = `SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
 UNION ALL SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
 WHERE connamespace = current_schema()::regnamespace ORDER BY 1`
			}
			rows, err := s.Read.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				out = append(out, n)
			}
			return out
		}
		before := indexes()
		if len(before) < 20 {
			t.Fatalf("schema: %v", before)
		}
		mustGenerate(t, s, small(9))
		if after := indexes(); !slices.Equal(before, after) {
			t.Errorf("schema before:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
		}
		if s.Engine == store.SQLite {
			var mode string
			var sync int
			if err := s.Write.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode %q %v", mode, err)
			}
			if err := s.Write.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
				t.Errorf("synchronous %d %v", sync, err)
			}
		}
	})
}

func TestProgressAndDefaults(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		var buf bytes.Buffer
		sum, err := seed.Generate(context.Background(), s, seed.Options{Recommendations: 300, Seed: 1, Progress: &buf})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Users != seed.DefaultUsers || sum.Recommendations != 300 {
			t.Errorf("summary %+v", sum)
		}
		if want := time.Now().UTC().Truncate(24 * time.Hour); !sum.Now.Equal(want) && !sum.Now.Equal(want.Add(-24*time.Hour)) {
			t.Errorf("default anchor %v", sum.Now)
		}
		if !strings.Contains(buf.String(), "100%") {
			t.Errorf("progress output %q", buf.String())
		}
	})
}

func TestInvalidOptions(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	if _, err := seed.Generate(context.Background(), s, seed.Options{Users: -1}); review.ErrorCode(err) != review.EInvalid {
		t.Errorf("negative users: %v", err)
	}
}

func TestCancel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := seed.Generate(ctx, s, small(1)); err == nil {
			t.Fatal("cancelled seed succeeded")
		}
		if n := count(t, s, "SELECT COUNT(*) FROM recommendations"); n != 0 {
			t.Errorf("cancelled seed left %d recommendations", n)
		}
		mustGenerate(t, s, small(1)) // and the database can still be seeded
	})
}

// TestVolume seeds a million recommendations (SPENDSENSE_SEED_RECS to
// change it) and reports the rate. It is slow, so it runs only with
// SPENDSENSE_LONG_TESTS=1.
func TestVolume(t *testing.T) {
	if os.Getenv("SPENDSENSE_LONG_TESTS") != "1" {
		t.Skip("set SPENDSENSE_LONG_TESTS=1 to seed 1,000,000 recommendations")
	}
	n := 1_000_000
	if raceDetector {
		// Under -race a million rows take longer than the test timeout and
		// the rate means nothing; `spendsense seed` measures the real one.
		n = 40_000
	}
	if v := os.Getenv("SPENDSENSE_SEED_RECS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			s := testdb.Open(t, e)
			sum := mustGenerate(t, s, seed.Options{Users: max(1, n/10), Recommendations: n, Seed: 1, Now: anchor})
			t.Logf("%s: %d recommendations, %d rows in %v: %.0f recommendations/s, %.0f rows/s; %v, %d audit rows",
				e, sum.Recommendations, sum.Rows(), sum.Elapsed.Round(time.Millisecond),
				float64(sum.Recommendations)/sum.Elapsed.Seconds(), float64(sum.Rows())/sum.Elapsed.Seconds(), sum.ByStatus, sum.AuditLogs)
			if n <= 200_000 {
				check(t, s)
			}
		})
	}
}

// TestSQLiteBusyReader seeds while a reader holds a transaction open: the
// seed cannot take the database out of WAL mode then, and must still work.
func TestSQLiteBusyReader(t *testing.T) {
	s := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	tx, err := s.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := 0; tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n) != nil || n != 0 {
		t.Fatal("reader")
	}
	sum := mustGenerate(t, s, small(4))
	if n := 0; tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n) != nil || n != 0 {
		t.Error("the reader's snapshot changed under it")
	}
	_ = tx.Rollback()
	if got := count(t, s, "SELECT COUNT(*) FROM recommendations"); got != sum.Recommendations {
		t.Errorf("%d recommendations after the seed", got)
	}
	var mode string
	if err := s.Write.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q %v", mode, err)
	}
	check(t, s)
}
