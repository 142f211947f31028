package httpapi

import (
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// The wire shapes of users, their signals and personas: the domain's types
// (internal/review) with the schema huma turns into OpenAPI and
// validation. The enum tags spell out review.Personas and friends; a test
// keeps the two in step. Types whose fields match the domain's exactly
// convert in one step (Persona(p)); the others are copied field by field.

// Signals are the wire shape of review.Signals.
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

func signalsToWire(s review.Signals) Signals {
	return Signals{
		Credit: CreditSignals(s.Credit),
		Subscriptions: SubscriptionSignals{
			RecurringMerchantCount: s.Subscriptions.RecurringMerchantCount,
			MonthlyRecurringSpend:  s.Subscriptions.MonthlyRecurringSpend,
			SubscriptionSharePct:   s.Subscriptions.SubscriptionSharePct,
			Merchants:              convertAll(s.Subscriptions.Merchants, func(m review.Merchant) Merchant { return Merchant(m) }),
		},
		Savings: SavingsSignals(s.Savings),
		Income:  IncomeSignals(s.Income),
	}
}

func (w Signals) domain() review.Signals {
	return review.Signals{
		Credit: review.CreditSignals(w.Credit),
		Subscriptions: review.SubscriptionSignals{
			RecurringMerchantCount: w.Subscriptions.RecurringMerchantCount,
			MonthlyRecurringSpend:  w.Subscriptions.MonthlyRecurringSpend,
			SubscriptionSharePct:   w.Subscriptions.SubscriptionSharePct,
			Merchants:              convertAll(w.Subscriptions.Merchants, func(m Merchant) review.Merchant { return review.Merchant(m) }),
		},
		Savings: review.SavingsSignals(w.Savings),
		Income:  review.IncomeSignals(w.Income),
	}
}

func personaToWire(p *review.Persona) *Persona {
	if p == nil {
		return nil
	}
	w := Persona(*p)
	return &w
}

func profileToWire(p *review.UserProfile) *UserProfile {
	return &UserProfile{
		UserID: p.UserID, Name: p.Name, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Personas:             CurrentPersonas{Days30: personaToWire(p.Personas.Days30), Days180: personaToWire(p.Personas.Days180)},
		RecommendationCounts: RecommendationCounts(p.RecommendationCounts),
	}
}

func userSignalsToWire(s *review.UserSignals) *UserSignals {
	return &UserSignals{
		UserID: s.UserID, WindowType: s.WindowType, ComputedAt: s.ComputedAt,
		Persona30d: personaToWire(s.Persona30d), Persona180d: personaToWire(s.Persona180d),
		Signals: signalsToWire(s.Signals),
	}
}

func historyToWire(h []review.PersonaHistoryEntry) []PersonaHistoryEntry {
	return convertAll(h, func(e review.PersonaHistoryEntry) PersonaHistoryEntry { return PersonaHistoryEntry(e) })
}
