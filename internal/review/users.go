package review

import (
	"slices"
	"time"
)

// IncomeTypes and PaymentFrequencies are the values the income signals take.
var (
	IncomeTypes        = []string{"salaried", "hourly", "gig", "self_employed", "benefits", "mixed"}
	PaymentFrequencies = []string{"weekly", "biweekly", "semimonthly", "monthly", "irregular"}
)

// ValidWindow reports whether w is a signal window.
func ValidWindow(w string) bool { return slices.Contains(Windows, w) }

// Signals are the behavioural signals computed for one user over one
// window. Their JSON is how the store keeps them (user_signals.signals_json)
// and what the API returns, so the json tags are a storage format.
type Signals struct {
	Credit        CreditSignals       `json:"credit"`
	Subscriptions SubscriptionSignals `json:"subscriptions"`
	Savings       SavingsSignals      `json:"savings"`
	Income        IncomeSignals       `json:"income"`
}

// CreditSignals describe credit card use.
type CreditSignals struct {
	AggregateUtilizationPct float64 `json:"aggregate_utilization_pct"`
	TotalCreditUsed         float64 `json:"total_credit_used"`
	TotalCreditAvailable    float64 `json:"total_credit_available"`
	AnyInterestCharges      bool    `json:"any_interest_charges"`
}

// SubscriptionSignals describe recurring payments.
type SubscriptionSignals struct {
	RecurringMerchantCount int        `json:"recurring_merchant_count"`
	MonthlyRecurringSpend  float64    `json:"monthly_recurring_spend"`
	SubscriptionSharePct   float64    `json:"subscription_share_pct"`
	Merchants              []Merchant `json:"merchants"`
}

// Merchant is one recurring merchant.
type Merchant struct {
	Name   string  `json:"name"`
	Amount float64 `json:"amount"`
}

// SavingsSignals describe savings behaviour.
type SavingsSignals struct {
	TotalSavingsBalance  float64 `json:"total_savings_balance"`
	SavingsGrowthRatePct float64 `json:"savings_growth_rate_pct"`
	NetSavingsInflow     float64 `json:"net_savings_inflow"`
	EmergencyFundMonths  float64 `json:"emergency_fund_months"`
}

// IncomeSignals describe income and cash flow.
type IncomeSignals struct {
	IncomeType           string  `json:"income_type"`
	PaymentFrequency     string  `json:"payment_frequency"`
	MedianPayGapDays     int     `json:"median_pay_gap_days"`
	IncomeVariabilityPct float64 `json:"income_variability_pct"`
	CashFlowBufferMonths float64 `json:"cash_flow_buffer_months"`
	MonthlyIncome        float64 `json:"monthly_income"`
}

// Persona is a user's persona for one window.
type Persona struct {
	Primary       string
	Secondary     *string // nil when none
	MatchStrength float64 // 0 to 1
}

// CurrentPersonas are a user's current personas by window; nil when none
// has been assigned for that window.
type CurrentPersonas struct {
	Days30  *Persona
	Days180 *Persona
}

// RecommendationCounts counts a user's recommendations by status.
type RecommendationCounts struct {
	Pending  int
	Approved int
	Rejected int
	Flagged  int
	Total    int
}

// UserProfile is a user with current personas and recommendation counts.
type UserProfile struct {
	UserID               string
	Name                 *string // nil when the engine sent none
	CreatedAt            time.Time
	UpdatedAt            time.Time
	Personas             CurrentPersonas
	RecommendationCounts RecommendationCounts
}

// UserSignals are a user's newest signals for one window, with the user's
// current personas.
type UserSignals struct {
	UserID      string
	WindowType  string
	ComputedAt  time.Time
	Persona30d  *Persona
	Persona180d *Persona
	Signals     Signals
}

// PersonaHistoryEntry is one persona assignment, recorded when a window's
// persona first appears or changes.
type PersonaHistoryEntry struct {
	Date          string // the UTC day, YYYY-MM-DD
	Persona       string
	MatchStrength float64
	WindowType    string
}

// Normalize makes an absent merchant list an empty one, so clients always
// see an array.
func (sg *Signals) Normalize() {
	if sg.Subscriptions.Merchants == nil {
		sg.Subscriptions.Merchants = []Merchant{}
	}
}

// Validate applies the rules the HTTP layer's schema states, for callers
// that do not come through it. field prefixes the names in messages.
func (sg *Signals) Validate(field string) error {
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
			return Errorf(EInvalid, "%s.%s must not be negative", field, f.name)
		}
	}
	if sg.Subscriptions.SubscriptionSharePct > 100 {
		return Errorf(EInvalid, "%s.subscriptions.subscription_share_pct must be at most 100", field)
	}
	for i, m := range sg.Subscriptions.Merchants {
		if m.Name == "" || len(m.Name) > 200 {
			return Errorf(EInvalid, "%s.subscriptions.merchants[%d].name must be 1 to 200 characters", field, i)
		}
		if m.Amount < 0 {
			return Errorf(EInvalid, "%s.subscriptions.merchants[%d].amount must not be negative", field, i)
		}
	}
	if len(sg.Subscriptions.Merchants) > 500 {
		return Errorf(EInvalid, "%s.subscriptions.merchants may list at most 500 merchants", field)
	}
	if !slices.Contains(IncomeTypes, sg.Income.IncomeType) {
		return Errorf(EInvalid, "%s.income.income_type must be one of %v", field, IncomeTypes)
	}
	if !slices.Contains(PaymentFrequencies, sg.Income.PaymentFrequency) {
		return Errorf(EInvalid, "%s.income.payment_frequency must be one of %v", field, PaymentFrequencies)
	}
	return nil
}

// Validate checks a persona against the contract's enumerations; an empty
// secondary persona becomes none.
func (p *Persona) Validate(field string) error {
	if !slices.Contains(Personas, p.Primary) {
		return Errorf(EInvalid, "%s.primary must be one of %v", field, Personas)
	}
	if p.Secondary != nil && *p.Secondary == "" {
		p.Secondary = nil
	}
	if p.Secondary != nil && !slices.Contains(Personas, *p.Secondary) {
		return Errorf(EInvalid, "%s.secondary must be null or one of %v", field, Personas)
	}
	if !(p.MatchStrength >= 0 && p.MatchStrength <= 1) {
		return Errorf(EInvalid, "%s.match_strength must be between 0 and 1", field)
	}
	return nil
}

// SameAs reports whether p and q name the same personas (match strength
// aside: history records changes of persona, not of score).
func (p *Persona) SameAs(q *Persona) bool {
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
