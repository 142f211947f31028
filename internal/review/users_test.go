package review_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

func ptr[T any](v T) *T { return &v }

func validUser(now time.Time) review.IngestUser {
	var sg review.Signals
	sg.Income.IncomeType, sg.Income.PaymentFrequency = "salaried", "monthly"
	return review.IngestUser{UserID: "user_1", ComputedAt: &now,
		Signals:  review.IngestSignals{Days30: sg},
		Personas: review.IngestPersonas{Days30: review.Persona{Primary: "student", MatchStrength: 0.5}}}
}

func TestIngestUserValidate(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	t.Run("OK", func(t *testing.T) {
		u := validUser(now)
		local := now.Add(-time.Hour + 999*time.Nanosecond).In(time.FixedZone("x", 7200))
		empty, blank := "", ""
		u.Name, u.ComputedAt = &empty, &local
		caller := review.Persona{Primary: "student", Secondary: &blank, MatchStrength: 1}
		u.Personas.Days180 = &caller
		if err := u.Validate("users[0]", now); err != nil {
			t.Fatal(err)
		}
		if u.Name != nil {
			t.Errorf("empty name = %q, want absent", *u.Name)
		}
		if want := now.Add(-time.Hour); !u.ComputedAt.Equal(want) || u.ComputedAt.Location() != time.UTC {
			t.Errorf("computed_at = %v, want %v in UTC at the microsecond", u.ComputedAt, want)
		}
		if u.Personas.Days180.Secondary != nil {
			t.Error("an empty secondary persona was kept")
		}
		if caller.Secondary == nil {
			t.Error("the caller's 180-day persona was changed")
		}
		if got := u.At(now.Add(time.Hour)); !got.Equal(now.Add(-time.Hour)) {
			t.Errorf("At = %v, want computed_at", got)
		}
		u.ComputedAt = nil
		if got := u.At(now); !got.Equal(now) {
			t.Errorf("At without computed_at = %v, want now", got)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		long := strings.Repeat("é", 201)
		for _, c := range []struct {
			edit func(u *review.IngestUser)
			want string
		}{
			{func(u *review.IngestUser) { u.UserID = "a b" }, "users[3].user_id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -"},
			{func(u *review.IngestUser) { u.Name = &long }, "users[3].name must be at most 200 characters"},
			{func(u *review.IngestUser) { u.ComputedAt = ptr(now.Add(time.Hour + time.Second)) }, "users[3].computed_at is in the future"},
			{func(u *review.IngestUser) { u.Signals.Days30.Credit.TotalCreditUsed = -1 },
				"users[3].signals.30d.credit.total_credit_used must not be negative"},
			{func(u *review.IngestUser) { u.Signals.Days30.Subscriptions.SubscriptionSharePct = 100.5 },
				"users[3].signals.30d.subscriptions.subscription_share_pct must be at most 100"},
			{func(u *review.IngestUser) {
				u.Signals.Days30.Subscriptions.Merchants = []review.Merchant{{Name: "a", Amount: 1}, {Name: "", Amount: 1}}
			}, "users[3].signals.30d.subscriptions.merchants[1].name must be 1 to 200 characters"},
			{func(u *review.IngestUser) {
				for range 501 {
					u.Signals.Days30.Subscriptions.Merchants = append(u.Signals.Days30.Subscriptions.Merchants, review.Merchant{Name: "m"})
				}
			}, "users[3].signals.30d.subscriptions.merchants may list at most 500 merchants"},
			{func(u *review.IngestUser) {
				u.Signals.Days180 = &review.Signals{}
				u.Signals.Days180.Income.IncomeType = "salaried"
			}, "users[3].signals.180d.income.payment_frequency must be one of [weekly biweekly semimonthly monthly irregular]"},
			{func(u *review.IngestUser) { u.Personas.Days30.Primary = "gambler" },
				"users[3].personas.30d.primary must be one of [high_utilization variable_income_budgeter subscription_heavy savings_builder student]"},
			{func(u *review.IngestUser) {
				u.Personas.Days180 = &review.Persona{Primary: "student", Secondary: ptr("x")}
			},
				"users[3].personas.180d.secondary must be null or one of [high_utilization variable_income_budgeter subscription_heavy savings_builder student]"},
			{func(u *review.IngestUser) { u.Personas.Days30.MatchStrength = -0.1 }, "users[3].personas.30d.match_strength must be between 0 and 1"},
		} {
			u := validUser(now)
			c.edit(&u)
			err := u.Validate("users[3]", now)
			if review.ErrorCode(err) != review.EInvalid || err.Error() != c.want {
				t.Errorf("Validate = %v (%s), want %q", err, review.ErrorCode(err), c.want)
			}
		}
	})
}

func TestPersonaSameAs(t *testing.T) {
	a, b := "student", "savings_builder"
	for _, c := range []struct {
		p, q *review.Persona
		want bool
	}{
		{nil, nil, true},
		{&review.Persona{Primary: a}, nil, false},
		{&review.Persona{Primary: a, MatchStrength: 0.1}, &review.Persona{Primary: a, MatchStrength: 0.9}, true},
		{&review.Persona{Primary: a}, &review.Persona{Primary: b}, false},
		{&review.Persona{Primary: a, Secondary: &b}, &review.Persona{Primary: a}, false},
		{&review.Persona{Primary: a, Secondary: &b}, &review.Persona{Primary: a, Secondary: ptr(b)}, true},
	} {
		if got := c.p.SameAs(c.q); got != c.want {
			t.Errorf("%+v SameAs %+v = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}
