package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) {
	code := testdb.Run(m)
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

const secret = "test-delivery-secret"

var (
	operator = review.Actor{ID: "op_test", Role: review.RoleOperator}
	senior   = review.Actor{ID: "op_senior", Role: review.RoleSenior}
	admin    = review.Actor{ID: "op_admin", Role: review.RoleAdmin}
)

func ptr[T any](v T) *T { return &v }

// fixture ingests one user and n pending recommendations r0000…, whose
// guardrails all passed, and returns their ids.
func fixture(t testing.TB, s *store.Store, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	_, err := s.IngestUsers(ctx, []review.IngestUser{{
		UserID: "u1", ComputedAt: &at,
		Signals: review.IngestSignals{Days30: review.Signals{
			Credit: review.CreditSignals{AggregateUtilizationPct: 40, TotalCreditUsed: 2000, TotalCreditAvailable: 5000},
			Income: review.IncomeSignals{IncomeType: "salaried", PaymentFrequency: "biweekly", MonthlyIncome: 4200},
		}},
		Personas: review.IngestPersonas{Days30: review.Persona{Primary: "high_utilization", MatchStrength: 0.8}},
	}})
	if err != nil {
		t.Fatalf("ingest user: %v", err)
	}
	ids := make([]string, n)
	var recs []review.IngestRecommendation
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i)
		recs = append(recs, review.IngestRecommendation{
			ID: ids[i], UserID: "u1", PersonaPrimary: "high_utilization",
			Type: "article", Title: "Understanding credit utilization " + ids[i],
			Rationale: "Your utilization is 40%.", Priority: "high",
			ContentURL: ptr("https://learn.example.com/utilization"), ReadTimeMinutes: ptr(5),
			GuardrailsPassed: review.Guardrails{ToneCheck: true, AdviceCheck: true, EligibilityCheck: true},
			GeneratedAt:      at,
		})
	}
	for len(recs) > 0 {
		k := min(len(recs), store.MaxIngestBatch)
		if _, err := s.IngestRecommendations(ctx, recs[:k]); err != nil {
			t.Fatalf("ingest recommendations: %v", err)
		}
		recs = recs[k:]
	}
	return ids
}

// hit is one request the receiver saw.
type hit struct {
	id       string
	status   int
	validSig bool
	event    delivery.Event
	header   http.Header
	at       time.Time
}

// receiver is a webhook endpoint that verifies signatures and answers with
// respond(id, n) for the n-th request (from 1) about id.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	hits    []hit
	n       map[string]int
	respond func(id string, n int) (status int, header http.Header)
}

func newReceiver(t testing.TB, respond func(id string, n int) (int, http.Header)) *receiver {
	r := &receiver{n: map[string]int{}, respond: respond}
	if r.respond == nil {
		r.respond = func(string, int) (int, http.Header) { return http.StatusNoContent, nil }
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hit{header: req.Header.Clone(), at: time.Now()}
		h.validSig = req.Method == http.MethodPost && req.Header.Get("Content-Type") == "application/json" &&
			delivery.Verify([]byte(secret), body, req.Header.Get(delivery.HeaderSignature))
		_ = json.Unmarshal(body, &h.event)
		h.id = req.Header.Get(delivery.HeaderDelivery)
		r.mu.Lock()
		r.n[h.id]++
		status, hdr := r.respond(h.id, r.n[h.id])
		h.status = status
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) sink(t testing.TB) delivery.Sink {
	t.Helper()
	s, err := delivery.NewWebhookSink(r.srv.URL+"/hooks/spendsense", secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *receiver) snapshot() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// successes counts 2xx responses per delivery id.
func (r *receiver) successes() map[string]int {
	out := map[string]int{}
	for _, h := range r.snapshot() {
		if h.status >= 200 && h.status < 300 {
			out[h.id]++
		}
	}
	return out
}

type opts struct {
	insertOnly  bool
	maxAttempts int
	reg         *prometheus.Registry
}

// newService builds a delivery service with fast polling and a tiny backoff,
// stopped when t ends.
func newService(t testing.TB, s *store.Store, sink delivery.Sink, o opts) *delivery.Service {
	t.Helper()
	if o.maxAttempts == 0 {
		o.maxAttempts = 3
	}
	cfg := delivery.Config{
		Store: s, Sink: sink, InsertOnly: o.insertOnly, Logger: testLogger(t),
		MaxAttempts: o.maxAttempts, PollInterval: 50 * time.Millisecond,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond },
	}
	if o.reg != nil {
		cfg.Registry = o.reg
	}
	svc, err := delivery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeliveryQueue(svc.Queue()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return svc
}

func start(t testing.TB, svc *delivery.Service) {
	t.Helper()
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveries returns every delivery by recommendation id.
func deliveries(t testing.TB, s *store.Store) map[string]store.Delivery {
	t.Helper()
	ds, err := s.ListDeliveries(context.Background(), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Delivery{}
	for _, d := range ds {
		out[d.RecommendationID] = d
	}
	return out
}

func countStatus(t testing.TB, s *store.Store, status string) int {
	t.Helper()
	n := 0
	for _, d := range deliveries(t, s) {
		if d.Status == status {
			n++
		}
	}
	return n
}

func approve(t testing.TB, s *store.Store, id string) {
	t.Helper()
	if _, err := s.Approve(context.Background(), review.ApproveInput{ID: id, Actor: operator}); err != nil {
		t.Fatalf("approve %s: %v", id, err)
	}
}

// waitCounters waits until each outcome's counter reads its wanted value. A
// worker counts an outcome after the delivery's row is committed, so a test
// that has just seen the row can be a moment ahead of the counter.
func waitCounters(t testing.TB, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	matches := func() bool {
		for outcome, n := range want {
			if counter(reg, outcome) != n {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !matches() {
		if time.Now().After(deadline) {
			got := map[string]float64{}
			for outcome := range want {
				got[outcome] = counter(reg, outcome)
			}
			t.Errorf("spendsense_deliveries_total = %v, want %v", got, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counter(reg *prometheus.Registry, outcome string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "spendsense_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// jobStates counts River jobs of the delivery kind by state.
func jobStates(t testing.TB, s *store.Store) map[string]int {
	t.Helper()
	rows, err := s.Read.QueryContext(context.Background(), `SELECT state, COUNT(*) FROM river_job WHERE kind = 'deliver_recommendation' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	return out
}

// testLogger writes to the test's output (shown on failure or with -v).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
