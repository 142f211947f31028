package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// clock is the fixed "now" of these tests.
var clock = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func fixedStore(s *store.Store) *store.Store {
	s.SetClock(func() time.Time { return clock })
	return s
}

func ptr[T any](v T) *T { return &v }

func sampleSignals(util float64) review.Signals {
	return review.Signals{
		Credit: review.CreditSignals{AggregateUtilizationPct: util, TotalCreditUsed: util * 50, TotalCreditAvailable: 5000, AnyInterestCharges: true},
		Subscriptions: review.SubscriptionSignals{RecurringMerchantCount: 2, MonthlyRecurringSpend: 30.98, SubscriptionSharePct: 4.5,
			Merchants: []review.Merchant{{Name: "Netflix", Amount: 15.49}, {Name: "Spotify", Amount: 15.49}}},
		Savings: review.SavingsSignals{TotalSavingsBalance: 1200, SavingsGrowthRatePct: -1.5, NetSavingsInflow: -40, EmergencyFundMonths: 0.4},
		Income: review.IncomeSignals{IncomeType: "salaried", PaymentFrequency: "biweekly", MedianPayGapDays: 14,
			IncomeVariabilityPct: 3.2, CashFlowBufferMonths: 0.6, MonthlyIncome: 4200},
	}
}

func persona(primary, secondary string, strength float64) review.Persona {
	p := review.Persona{Primary: primary, MatchStrength: strength}
	if secondary != "" {
		p.Secondary = &secondary
	}
	return p
}

func user(id string, at time.Time, p30 review.Persona) review.IngestUser {
	return review.IngestUser{
		UserID:     id,
		ComputedAt: &at,
		Signals:    review.IngestSignals{Days30: sampleSignals(40)},
		Personas:   review.IngestPersonas{Days30: p30},
	}
}

func mustIngestUsers(t *testing.T, s *store.Store, users ...review.IngestUser) review.IngestUsersResult {
	t.Helper()
	res, err := s.IngestUsers(context.Background(), users)
	if err != nil {
		t.Fatalf("IngestUsers: %v", err)
	}
	return res
}

func wantErr(t *testing.T, err error, code review.Code, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s containing %q", code, contains)
	}
	if got := review.ErrorCode(err); got != code {
		t.Fatalf("error code = %s (%v), want %s", got, err, code)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not contain %q", err, contains)
	}
}

func TestUserIngestAndReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedStore(s)
		at := clock.Add(-2 * time.Hour)
		u := user("user_1", at, persona("high_utilization", "subscription_heavy", 0.87))
		u.Name = ptr("Alex Morgan")
		s180 := sampleSignals(75)
		s180.Subscriptions.Merchants = nil // absent list comes back as []
		u.Signals.Days180 = &s180
		u.Personas.Days180 = ptr(persona("savings_builder", "", 0.6))
		res := mustIngestUsers(t, s, u, user("user_2", at, persona("student", "", 0.5)))
		if res.Upserted != 2 || res.PersonaChanges != 3 {
			t.Fatalf("result = %+v, want 2 upserted, 3 persona changes", res)
		}

		t.Run("profile", func(t *testing.T) {
			p, err := s.GetUserProfile(ctx, "user_1")
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != "user_1" || p.Name == nil || *p.Name != "Alex Morgan" {
				t.Fatalf("profile = %+v", p)
			}
			if !p.CreatedAt.Equal(clock) || !p.UpdatedAt.Equal(clock) || p.CreatedAt.Location() != time.UTC {
				t.Fatalf("created/updated = %v/%v, want %v UTC", p.CreatedAt, p.UpdatedAt, clock)
			}
			if got, want := p.Personas.Days30, ptr(persona("high_utilization", "subscription_heavy", 0.87)); !reflect.DeepEqual(got, want) {
				t.Fatalf("30d persona = %+v, want %+v", got, want)
			}
			if got, want := p.Personas.Days180, ptr(persona("savings_builder", "", 0.6)); !reflect.DeepEqual(got, want) {
				t.Fatalf("180d persona = %+v, want %+v", got, want)
			}
			if p.RecommendationCounts != (review.RecommendationCounts{}) {
				t.Fatalf("counts = %+v, want zeros", p.RecommendationCounts)
			}
			p2, err := s.GetUserProfile(ctx, "user_2")
			if err != nil {
				t.Fatal(err)
			}
			if p2.Name != nil || p2.Personas.Days180 != nil || p2.Personas.Days30 == nil {
				t.Fatalf("user_2 profile = %+v", p2)
			}
			_, err = s.GetUserProfile(ctx, "nobody")
			wantErr(t, err, review.ENotFound, `user "nobody" not found`)
		})

		t.Run("signals", func(t *testing.T) {
			sg, err := s.GetUserSignals(ctx, "user_1", "30d")
			if err != nil {
				t.Fatal(err)
			}
			if sg.UserID != "user_1" || sg.WindowType != "30d" || !sg.ComputedAt.Equal(at) {
				t.Fatalf("signals header = %+v", sg)
			}
			if !reflect.DeepEqual(sg.Signals, sampleSignals(40)) {
				t.Fatalf("signals = %+v, want %+v", sg.Signals, sampleSignals(40))
			}
			if sg.Persona30d == nil || sg.Persona30d.Primary != "high_utilization" || sg.Persona180d == nil || sg.Persona180d.Primary != "savings_builder" {
				t.Fatalf("personas = %+v %+v", sg.Persona30d, sg.Persona180d)
			}
			sg, err = s.GetUserSignals(ctx, "user_1", "180d")
			if err != nil {
				t.Fatal(err)
			}
			if sg.Signals.Credit.AggregateUtilizationPct != 75 || sg.Signals.Subscriptions.Merchants == nil || len(sg.Signals.Subscriptions.Merchants) != 0 {
				t.Fatalf("180d signals = %+v", sg.Signals)
			}
			sg, err = s.GetUserSignals(ctx, "user_2", "30d")
			if err != nil {
				t.Fatal(err)
			}
			if sg.Persona180d != nil {
				t.Fatalf("user_2 180d persona = %+v, want nil", sg.Persona180d)
			}

			_, err = s.GetUserSignals(ctx, "nobody", "30d")
			wantErr(t, err, review.ENotFound, `user "nobody" not found`)
			_, err = s.GetUserSignals(ctx, "user_2", "180d")
			wantErr(t, err, review.ENotFound, `user "user_2" has no 180d signals recorded`)
			_, err = s.GetUserSignals(ctx, "user_2", "7d")
			wantErr(t, err, review.EInvalid, "window_type")
		})

		t.Run("history", func(t *testing.T) {
			h, err := s.PersonaHistory(ctx, "user_1", 180, clock)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 2 {
				t.Fatalf("history = %+v, want 2 entries", h)
			}
			for _, e := range h {
				if e.Date != "2025-03-10" {
					t.Fatalf("entry date = %q", e.Date)
				}
			}
			byWindow := map[string]review.PersonaHistoryEntry{h[0].WindowType: h[0], h[1].WindowType: h[1]}
			if e := byWindow["30d"]; e.Persona != "high_utilization" || e.MatchStrength != 0.87 {
				t.Fatalf("30d entry = %+v", e)
			}
			if e := byWindow["180d"]; e.Persona != "savings_builder" || e.MatchStrength != 0.6 {
				t.Fatalf("180d entry = %+v", e)
			}
			_, err = s.PersonaHistory(ctx, "nobody", 180, clock)
			wantErr(t, err, review.ENotFound, `user "nobody" not found`)
			_, err = s.PersonaHistory(ctx, "user_1", 0, clock)
			wantErr(t, err, review.EInvalid, "days")
		})

		t.Run("known user without history", func(t *testing.T) {
			// Outside the window: a known user's history is then empty, not null.
			h, err := s.PersonaHistory(ctx, "user_2", 1, clock.AddDate(0, 0, 30))
			if err != nil {
				t.Fatal(err)
			}
			if h == nil || len(h) != 0 {
				t.Fatalf("history = %#v, want empty slice", h)
			}
		})
	})
}

func TestPersonaChangesAppendHistory(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedStore(s)
		day := func(n int) time.Time { return clock.AddDate(0, 0, -10+n) }

		steps := []struct {
			p       review.Persona
			changes int
		}{
			{persona("high_utilization", "", 0.7), 1},                   // first: recorded
			{persona("high_utilization", "", 0.9), 0},                   // same persona, new score: not recorded
			{persona("subscription_heavy", "", 0.8), 1},                 // primary changed
			{persona("subscription_heavy", "high_utilization", 0.8), 1}, // secondary changed
			{persona("subscription_heavy", "high_utilization", 0.5), 0},
		}
		for i, st := range steps {
			res := mustIngestUsers(t, s, user("u", day(i), st.p))
			if res.PersonaChanges != st.changes || res.Upserted != 1 {
				t.Fatalf("step %d: result = %+v, want %d changes", i, res, st.changes)
			}
		}
		p, err := s.GetUserProfile(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.Personas.Days30, ptr(persona("subscription_heavy", "high_utilization", 0.5)); !reflect.DeepEqual(got, want) {
			t.Fatalf("current persona = %+v, want %+v (the newest score)", got, want)
		}
		h, err := s.PersonaHistory(ctx, "u", 30, clock)
		if err != nil {
			t.Fatal(err)
		}
		want := []review.PersonaHistoryEntry{
			{Date: day(3).Format(time.DateOnly), Persona: "subscription_heavy", MatchStrength: 0.8, WindowType: "30d"},
			{Date: day(2).Format(time.DateOnly), Persona: "subscription_heavy", MatchStrength: 0.8, WindowType: "30d"},
			{Date: day(0).Format(time.DateOnly), Persona: "high_utilization", MatchStrength: 0.7, WindowType: "30d"},
		}
		if !reflect.DeepEqual(h, want) {
			t.Fatalf("history =\n%+v\nwant (newest first)\n%+v", h, want)
		}
		// days bounds the history.
		h, err = s.PersonaHistory(ctx, "u", 8, clock)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2 {
			t.Fatalf("8-day history = %+v, want the 2 entries of the last 8 days", h)
		}
	})
}

func TestOlderSignalsDoNotOverwriteNewer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedStore(s)
		newer, older := clock.Add(-time.Hour), clock.Add(-48*time.Hour)

		u := user("u", newer, persona("savings_builder", "", 0.8))
		u.Signals.Days30 = sampleSignals(20)
		mustIngestUsers(t, s, u)

		late := user("u", older, persona("high_utilization", "", 0.9))
		late.Signals.Days30 = sampleSignals(95)
		late.Name = ptr("Late Name")
		res := mustIngestUsers(t, s, late)
		if res.PersonaChanges != 0 || res.Upserted != 1 {
			t.Fatalf("late ingest = %+v, want no persona change", res)
		}
		sg, err := s.GetUserSignals(ctx, "u", "30d")
		if err != nil {
			t.Fatal(err)
		}
		if !sg.ComputedAt.Equal(newer) || sg.Signals.Credit.AggregateUtilizationPct != 20 {
			t.Fatalf("signals = %v %+v, want the newer ones", sg.ComputedAt, sg.Signals.Credit)
		}
		if sg.Persona30d.Primary != "savings_builder" {
			t.Fatalf("persona = %+v, want the newer one", sg.Persona30d)
		}
		h, err := s.PersonaHistory(ctx, "u", 30, clock)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 {
			t.Fatalf("history = %+v, want 1 entry", h)
		}

		// Equal computed_at replaces (a re-run of the same computation).
		same := user("u", newer, persona("savings_builder", "", 0.8))
		same.Signals.Days30 = sampleSignals(21)
		mustIngestUsers(t, s, same)
		if sg, _ := s.GetUserSignals(ctx, "u", "30d"); sg.Signals.Credit.AggregateUtilizationPct != 21 {
			t.Fatalf("equal computed_at did not replace: %+v", sg.Signals.Credit)
		}

		// computed_at defaults to now, which is newer again.
		def := user("u", clock, persona("student", "", 0.4))
		def.ComputedAt = nil
		if res := mustIngestUsers(t, s, def); res.PersonaChanges != 1 {
			t.Fatalf("default computed_at: %+v", res)
		}
		if sg, _ := s.GetUserSignals(ctx, "u", "30d"); !sg.ComputedAt.Equal(clock) {
			t.Fatalf("computed_at = %v, want now %v", sg.ComputedAt, clock)
		}
	})
}

func TestIngestUsersSameUserTwiceInBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedStore(s)
		t1, t0 := clock.Add(-time.Hour), clock.Add(-2*time.Hour)
		a := user("u", t1, persona("student", "", 0.9))
		a.Signals.Days30 = sampleSignals(10)
		b := user("u", t0, persona("high_utilization", "", 0.9))
		b.Signals.Days30 = sampleSignals(90)
		b.Name = ptr("Name From Older Item")
		// Batch order is newest first; items apply in computed_at order.
		res := mustIngestUsers(t, s, a, b)
		if res.Upserted != 1 || res.PersonaChanges != 2 {
			t.Fatalf("result = %+v, want 1 user, 2 persona changes", res)
		}
		sg, err := s.GetUserSignals(ctx, "u", "30d")
		if err != nil {
			t.Fatal(err)
		}
		if sg.Signals.Credit.AggregateUtilizationPct != 10 || sg.Persona30d.Primary != "student" {
			t.Fatalf("final state = %+v %+v, want the newer item", sg.Signals.Credit, sg.Persona30d)
		}
		h, _ := s.PersonaHistory(ctx, "u", 30, clock)
		if len(h) != 2 || h[0].Persona != "student" || h[1].Persona != "high_utilization" {
			t.Fatalf("history = %+v", h)
		}
		p, _ := s.GetUserProfile(ctx, "u")
		if p.Name == nil || *p.Name != "Name From Older Item" {
			t.Fatalf("name = %v", p.Name)
		}
	})
}

func TestIngestUsersInvalid(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedStore(s)
		good := user("ok", clock, persona("student", "", 0.5))
		cases := []struct {
			name  string
			edit  func(u *review.IngestUser)
			field string
		}{
			{"bad id", func(u *review.IngestUser) { u.UserID = "has space" }, "users[1].user_id"},
			{"bad persona", func(u *review.IngestUser) { u.Personas.Days30.Primary = "gambler" }, "users[1].personas.30d.primary"},
			{"bad secondary", func(u *review.IngestUser) { u.Personas.Days180 = ptr(persona("student", "nope", 0.5)) }, "users[1].personas.180d.secondary"},
			{"strength", func(u *review.IngestUser) { u.Personas.Days30.MatchStrength = 1.5 }, "match_strength"},
			{"income type", func(u *review.IngestUser) { u.Signals.Days30.Income.IncomeType = "lottery" }, "users[1].signals.30d.income.income_type"},
			{"negative", func(u *review.IngestUser) { u.Signals.Days30.Savings.TotalSavingsBalance = -1 }, "total_savings_balance"},
			{"future", func(u *review.IngestUser) { u.ComputedAt = ptr(clock.Add(2 * time.Hour)) }, "computed_at"},
		}
		for _, c := range cases {
			bad := user("bad", clock, persona("student", "", 0.5))
			c.edit(&bad)
			_, err := s.IngestUsers(ctx, []review.IngestUser{good, bad})
			wantErr(t, err, review.EInvalid, c.field)
		}
		// Nothing of a refused batch was written.
		_, err := s.GetUserProfile(ctx, "ok")
		wantErr(t, err, review.ENotFound, "not found")
	})
}
