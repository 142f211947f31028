package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// The wire shapes of users, their signals and personas. They double as the
// HTTP layer's request and response bodies, so their struct tags carry the
// schema (doc, example, enum, minimum…) that huma turns into OpenAPI and
// validation; the enum tags spell out review.Personas and friends, and a
// test keeps the two in step.

// IncomeTypes and PaymentFrequencies are the values the income signals take.
var (
	IncomeTypes        = []string{"salaried", "hourly", "gig", "self_employed", "benefits", "mixed"}
	PaymentFrequencies = []string{"weekly", "biweekly", "semimonthly", "monthly", "irregular"}
)

// Signals are the behavioural signals computed for one user over one window.
type Signals struct {
	Credit        CreditSignals       `json:"credit" doc:"Credit card behaviour"`
	Subscriptions SubscriptionSignals `json:"subscriptions" doc:"Recurring spending"`
	Savings       SavingsSignals      `json:"savings" doc:"Savings behaviour"`
	Income        IncomeSignals       `json:"income" doc:"Income stability"`
}

// CreditSignals describe credit card use.
type CreditSignals struct {
	AggregateUtilizationPct float64 `json:"aggregate_utilization_pct" minimum:"0" example:"68.5" doc:"Credit used as a percentage of credit available, across all cards (may exceed 100 when over limit)"`
	TotalCreditUsed         float64 `json:"total_credit_used" minimum:"0" example:"3425.5" doc:"Total balance owed on credit cards"`
	TotalCreditAvailable    float64 `json:"total_credit_available" minimum:"0" example:"5000" doc:"Total credit limit across all cards"`
	AnyInterestCharges      bool    `json:"any_interest_charges" example:"true" doc:"Whether any interest was charged in the window"`
}

// SubscriptionSignals describe recurring payments.
type SubscriptionSignals struct {
	RecurringMerchantCount int        `json:"recurring_merchant_count" minimum:"0" example:"7" doc:"Number of merchants charging on a recurring schedule"`
	MonthlyRecurringSpend  float64    `json:"monthly_recurring_spend" minimum:"0" example:"142.93" doc:"Recurring spend per month"`
	SubscriptionSharePct   float64    `json:"subscription_share_pct" minimum:"0" maximum:"100" example:"12.4" doc:"Recurring spend as a percentage of total spend"`
	Merchants              []Merchant `json:"merchants" maxItems:"500" doc:"The recurring merchants"`
}

// Merchant is one recurring merchant.
type Merchant struct {
	Name   string  `json:"name" minLength:"1" maxLength:"200" example:"Netflix" doc:"Merchant name"`
	Amount float64 `json:"amount" minimum:"0" example:"15.49" doc:"Monthly amount charged"`
}

// SavingsSignals describe savings behaviour.
type SavingsSignals struct {
	TotalSavingsBalance  float64 `json:"total_savings_balance" minimum:"0" example:"8200" doc:"Total balance across savings accounts"`
	SavingsGrowthRatePct float64 `json:"savings_growth_rate_pct" example:"2.5" doc:"Growth of savings over the window, in percent (negative when savings shrank)"`
	NetSavingsInflow     float64 `json:"net_savings_inflow" example:"250" doc:"Net money moved into savings per month (negative when drawn down)"`
	EmergencyFundMonths  float64 `json:"emergency_fund_months" minimum:"0" example:"2.1" doc:"Savings divided by average monthly expenses"`
}

// IncomeSignals describe income and cash flow.
type IncomeSignals struct {
	IncomeType           string  `json:"income_type" enum:"salaried,hourly,gig,self_employed,benefits,mixed" example:"salaried" doc:"Kind of income"`
	PaymentFrequency     string  `json:"payment_frequency" enum:"weekly,biweekly,semimonthly,monthly,irregular" example:"biweekly" doc:"How often income arrives"`
	MedianPayGapDays     int     `json:"median_pay_gap_days" minimum:"0" example:"14" doc:"Median number of days between paychecks"`
	IncomeVariabilityPct float64 `json:"income_variability_pct" minimum:"0" example:"8.3" doc:"Variability of income between pay periods, in percent"`
	CashFlowBufferMonths float64 `json:"cash_flow_buffer_months" minimum:"0" example:"0.8" doc:"Checking balance divided by average monthly expenses"`
	MonthlyIncome        float64 `json:"monthly_income" minimum:"0" example:"4200" doc:"Average monthly income"`
}

// Persona is a user's persona for one window.
type Persona struct {
	Primary       string  `json:"primary" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"high_utilization" doc:"Primary persona"`
	Secondary     *string `json:"secondary" required:"false" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"subscription_heavy" doc:"Secondary persona, null when none"`
	MatchStrength float64 `json:"match_strength" minimum:"0" maximum:"1" example:"0.87" doc:"How strongly the user matches the primary persona, 0 to 1"`
}

// CurrentPersonas are a user's current personas by window; null when none
// has been assigned for that window.
type CurrentPersonas struct {
	Days30  *Persona `json:"30d" doc:"Persona over the last 30 days, null when none"`
	Days180 *Persona `json:"180d" doc:"Persona over the last 180 days, null when none"`
}

// RecommendationCounts counts a user's recommendations by status.
type RecommendationCounts struct {
	Pending  int `json:"pending" example:"3"`
	Approved int `json:"approved" example:"12"`
	Rejected int `json:"rejected" example:"2"`
	Flagged  int `json:"flagged" example:"1"`
	Total    int `json:"total" example:"18"`
}

// UserProfile is GET /users/{user_id}.
type UserProfile struct {
	UserID               string               `json:"user_id" example:"user_0001"`
	Name                 *string              `json:"name" example:"Alex Morgan" doc:"Display name, null when the engine sent none"`
	CreatedAt            time.Time            `json:"created_at" doc:"When the user was first ingested"`
	UpdatedAt            time.Time            `json:"updated_at" doc:"When the user was last ingested"`
	Personas             CurrentPersonas      `json:"personas"`
	RecommendationCounts RecommendationCounts `json:"recommendation_counts"`
}

// UserSignals is GET /users/{user_id}/signals.
type UserSignals struct {
	UserID      string    `json:"user_id" example:"user_0001"`
	WindowType  string    `json:"window_type" enum:"30d,180d" example:"30d"`
	ComputedAt  time.Time `json:"computed_at" doc:"When the engine computed these signals"`
	Persona30d  *Persona  `json:"persona_30d" doc:"Current 30-day persona (present for every ingested user)"`
	Persona180d *Persona  `json:"persona_180d" doc:"Current 180-day persona, null when none"`
	Signals     Signals   `json:"signals"`
}

// PersonaHistoryEntry is one persona assignment, recorded when a window's
// persona first appears or changes.
type PersonaHistoryEntry struct {
	Date          string  `json:"date" format:"date" example:"2024-11-02" doc:"UTC day the persona was assigned"`
	Persona       string  `json:"persona" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"high_utilization"`
	MatchStrength float64 `json:"match_strength" minimum:"0" maximum:"1" example:"0.87"`
	WindowType    string  `json:"window_type" enum:"30d,180d" example:"30d"`
}

// ValidWindow reports whether w is a signal window.
func ValidWindow(w string) bool { return slices.Contains(review.Windows, w) }

func userNotFound(id string) error { return review.Errorf(review.ENotFound, "user %q not found", id) }

// GetUserProfile returns a user with current personas for both windows and
// recommendation counts by status.
func (s *Store) GetUserProfile(ctx context.Context, userID string) (*UserProfile, error) {
	var p UserProfile
	var name sql.NullString
	var created, updated Time
	err := s.reads().QueryRow(ctx, `SELECT user_id, name, created_at, updated_at FROM users WHERE user_id = ?`, userID).
		Scan(&p.UserID, &name, &created, &updated)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	p.Name, p.CreatedAt, p.UpdatedAt = strPtr(name), created.Time, updated.Time
	if p.Personas, err = s.currentPersonas(ctx, userID); err != nil {
		return nil, err
	}
	rows, err := s.reads().Query(ctx, `SELECT status, COUNT(*) FROM recommendations WHERE user_id = ? GROUP BY status`, userID)
	if err != nil {
		return nil, fmt.Errorf("count recommendations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count recommendations: %w", err)
		}
		switch review.Status(status) {
		case review.StatusPending:
			p.RecommendationCounts.Pending = n
		case review.StatusApproved:
			p.RecommendationCounts.Approved = n
		case review.StatusRejected:
			p.RecommendationCounts.Rejected = n
		case review.StatusFlagged:
			p.RecommendationCounts.Flagged = n
		}
		p.RecommendationCounts.Total += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count recommendations: %w", err)
	}
	return &p, nil
}

// currentPersonas reads a user's current persona per window.
func (s *Store) currentPersonas(ctx context.Context, userID string) (CurrentPersonas, error) {
	var out CurrentPersonas
	rows, err := s.reads().Query(ctx, `SELECT window_type, persona_primary, persona_secondary, match_strength
FROM user_personas WHERE user_id = ?`, userID)
	if err != nil {
		return out, fmt.Errorf("read personas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var window string
		var p Persona
		var secondary sql.NullString
		if err := rows.Scan(&window, &p.Primary, &secondary, &p.MatchStrength); err != nil {
			return out, fmt.Errorf("read personas: %w", err)
		}
		p.Secondary = strPtr(secondary)
		switch window {
		case "30d":
			out.Days30 = &p
		case "180d":
			out.Days180 = &p
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read personas: %w", err)
	}
	return out, nil
}

// GetUserSignals returns a user's newest signals for window (30d or 180d)
// with the user's current personas. An unknown user and a known user without
// signals for the window are both not-found, with different messages.
func (s *Store) GetUserSignals(ctx context.Context, userID, window string) (*UserSignals, error) {
	if !ValidWindow(window) {
		return nil, review.Errorf(review.EInvalid, "window_type must be 30d or 180d")
	}
	var computed NullTime
	var doc []byte
	var found string
	err := s.reads().QueryRow(ctx, `SELECT u.user_id, s.computed_at, s.signals_json
FROM users u LEFT JOIN user_signals s ON s.user_id = u.user_id AND s.window_type = ?
WHERE u.user_id = ?`, window, userID).Scan(&found, &computed, &doc)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get signals: %w", err)
	}
	if !computed.Valid {
		return nil, review.Errorf(review.ENotFound, "user %q has no %s signals recorded", userID, window)
	}
	out := &UserSignals{UserID: userID, WindowType: window, ComputedAt: computed.Time}
	if err := json.Unmarshal(doc, &out.Signals); err != nil {
		return nil, fmt.Errorf("decode signals of user %q: %w", userID, err)
	}
	out.Signals.normalize()
	personas, err := s.currentPersonas(ctx, userID)
	if err != nil {
		return nil, err
	}
	out.Persona30d, out.Persona180d = personas.Days30, personas.Days180
	return out, nil
}

// PersonaHistory returns a user's persona assignments recorded within the
// last days days before now, newest first: empty for a user without
// history, not-found for an unknown user.
func (s *Store) PersonaHistory(ctx context.Context, userID string, days int, now time.Time) ([]PersonaHistoryEntry, error) {
	if days < 1 {
		return nil, review.Errorf(review.EInvalid, "days must be at least 1")
	}
	var exists int
	err := s.reads().QueryRow(ctx, `SELECT 1 FROM users WHERE user_id = ?`, userID).Scan(&exists)
	if errors.Is(err, errNotFound) {
		return nil, userNotFound(userID)
	}
	if err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	since := now.UTC().AddDate(0, 0, -days)
	rows, err := s.reads().Query(ctx, `SELECT recorded_at, persona_primary, match_strength, window_type
FROM persona_history WHERE user_id = ? AND recorded_at >= ?
ORDER BY recorded_at DESC, history_id DESC`, userID, s.ts(since))
	if err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	defer rows.Close()
	out := []PersonaHistoryEntry{}
	for rows.Next() {
		var e PersonaHistoryEntry
		var at Time
		if err := rows.Scan(&at, &e.Persona, &e.MatchStrength, &e.WindowType); err != nil {
			return nil, fmt.Errorf("persona history: %w", err)
		}
		e.Date = at.Format(time.DateOnly)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("persona history: %w", err)
	}
	return out, nil
}

// normalize makes an absent merchant list an empty one, so clients always
// see an array.
func (sg *Signals) normalize() {
	if sg.Subscriptions.Merchants == nil {
		sg.Subscriptions.Merchants = []Merchant{}
	}
}

// validate applies the same rules as the struct tags, for callers that do
// not come through the HTTP layer's validation. field prefixes the names
// in messages.
func (sg *Signals) validate(field string) error {
	nonNeg := []struct {
		name string
		v    float64
	}{
		{"credit.aggregate_utilization_pct", sg.Credit.AggregateUtilizationPct},
		{"credit.total_credit_used", sg.Credit.TotalCreditUsed},
		{"credit.total_credit_available", sg.Credit.TotalCreditAvailable},
		{"subscriptions.recurring_merchant_count", float64(sg.Subscriptions.RecurringMerchantCount)},
		{"subscriptions.monthly_recurring_spend", sg.Subscriptions.MonthlyRecurringSpend},
		{"subscriptions.subscription_share_pct", sg.Subscriptions.SubscriptionSharePct},
		{"savings.total_savings_balance", sg.Savings.TotalSavingsBalance},
		{"savings.emergency_fund_months", sg.Savings.EmergencyFundMonths},
		{"income.median_pay_gap_days", float64(sg.Income.MedianPayGapDays)},
		{"income.income_variability_pct", sg.Income.IncomeVariabilityPct},
		{"income.cash_flow_buffer_months", sg.Income.CashFlowBufferMonths},
		{"income.monthly_income", sg.Income.MonthlyIncome},
	}
	for _, f := range nonNeg {
		if f.v < 0 {
			return review.Errorf(review.EInvalid, "%s.%s must not be negative", field, f.name)
		}
	}
	if sg.Subscriptions.SubscriptionSharePct > 100 {
		return review.Errorf(review.EInvalid, "%s.subscriptions.subscription_share_pct must be at most 100", field)
	}
	for i, m := range sg.Subscriptions.Merchants {
		if m.Name == "" || len(m.Name) > 200 {
			return review.Errorf(review.EInvalid, "%s.subscriptions.merchants[%d].name must be 1 to 200 characters", field, i)
		}
		if m.Amount < 0 {
			return review.Errorf(review.EInvalid, "%s.subscriptions.merchants[%d].amount must not be negative", field, i)
		}
	}
	if len(sg.Subscriptions.Merchants) > 500 {
		return review.Errorf(review.EInvalid, "%s.subscriptions.merchants may list at most 500 merchants", field)
	}
	if !slices.Contains(IncomeTypes, sg.Income.IncomeType) {
		return review.Errorf(review.EInvalid, "%s.income.income_type must be one of %v", field, IncomeTypes)
	}
	if !slices.Contains(PaymentFrequencies, sg.Income.PaymentFrequency) {
		return review.Errorf(review.EInvalid, "%s.income.payment_frequency must be one of %v", field, PaymentFrequencies)
	}
	return nil
}

// validate checks a persona against the contract's enumerations.
func (p *Persona) validate(field string) error {
	if !slices.Contains(review.Personas, p.Primary) {
		return review.Errorf(review.EInvalid, "%s.primary must be one of %v", field, review.Personas)
	}
	if p.Secondary != nil && *p.Secondary == "" {
		p.Secondary = nil
	}
	if p.Secondary != nil && !slices.Contains(review.Personas, *p.Secondary) {
		return review.Errorf(review.EInvalid, "%s.secondary must be null or one of %v", field, review.Personas)
	}
	if !(p.MatchStrength >= 0 && p.MatchStrength <= 1) {
		return review.Errorf(review.EInvalid, "%s.match_strength must be between 0 and 1", field)
	}
	return nil
}

// sameAs reports whether p and q name the same personas (match strength
// aside: history records changes of persona, not of score).
func (p *Persona) sameAs(q *Persona) bool {
	if p == nil || q == nil {
		return p == q
	}
	if p.Primary != q.Primary {
		return false
	}
	if p.Secondary == nil || q.Secondary == nil {
		return p.Secondary == q.Secondary
	}
	return *p.Secondary == *q.Secondary
}
