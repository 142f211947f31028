package seed

import (
	"math"
	"sort"
)

// Persona names, in the contract's order; the index is used in score arrays.
const (
	pHighUtil = iota
	pVariable
	pSubs
	pSavings
	pStudent
	nPersonas
)

var personaNames = [nPersonas]string{"high_utilization", "variable_income_budgeter", "subscription_heavy", "savings_builder", "student"}

// archetypeWeights is how often each kind of customer is drawn. The persona
// a user ends up with is derived from the signals, not copied from this.
var archetypeWeights = [nPersonas]float64{0.26, 0.18, 0.22, 0.22, 0.12}

type sub struct {
	name   string
	amount float64
}

// signals is one window's behavioural signals, as the contract shapes them.
type signals struct {
	// credit
	util, used, avail float64
	interest          bool
	// subscriptions
	subs         []sub
	subsMonthly  float64
	subsSharePct float64
	// savings
	balance, growthPct, inflow, emergencyMonths float64
	// income
	incomeType, payFreq         string
	gapDays                     int
	variabilityPct, bufferMonth float64
	monthlyIncome               float64
	monthlySpend                float64 // not exported; used to derive shares
}

// personaMatch is a window's persona assignment.
type personaMatch struct {
	primary, secondary string // secondary "" = none
	strength           float64
	scores             [nPersonas]float64
}

// user is what the recommendation phase needs to know about a user.
type user struct {
	id         string
	idv        any     // id, bound
	sig        signals // 30d
	persona    personaMatch
	persona180 personaMatch
	traceSig   [nPersonas]string // per persona: the 30d signals a trace records, made on first use
	assignJSON string            // 30d persona assignment, as a trace records it
}

func weighted(r *rng, w []float64) int {
	x := r.Float64()
	var sum float64
	for _, v := range w {
		sum += v
	}
	x *= sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

func choose(r *rng, names []string, w []float64) string { return names[weighted(r, w)] }

// genSignals draws a 30-day window for a customer of archetype a: income
// first (spending follows it), then credit, subscriptions and savings.
func genSignals(r *rng, a int) signals {
	var s signals
	s.drawIncome(r, a)
	s.drawCredit(r, a)
	s.drawSubscriptions(r, a)
	s.drawSavings(r, a)
	return s
}

// drawIncome draws income, its kind and rhythm, and the monthly spend.
func (s *signals) drawIncome(r *rng, a int) {
	switch a {
	case pStudent:
		s.monthlyIncome = r.between(650, 2150)
		s.incomeType = choose(r, []string{"hourly", "gig", "benefits", "mixed"}, []float64{45, 30, 10, 15})
	case pVariable:
		s.monthlyIncome = r.between(1800, 6800)
		s.incomeType = choose(r, []string{"gig", "self_employed", "mixed", "hourly"}, []float64{35, 30, 25, 10})
	default:
		s.monthlyIncome = clamp(math.Exp(r.normal(math.Log(4800), 0.45, math.Log(1900), math.Log(16000))), 1900, 16000)
		s.incomeType = choose(r, []string{"salaried", "hourly", "self_employed", "mixed", "benefits"}, []float64{70, 20, 5, 3, 2})
	}
	switch s.incomeType {
	case "salaried":
		s.payFreq = choose(r, []string{"biweekly", "semimonthly", "monthly", "weekly"}, []float64{50, 25, 20, 5})
		s.variabilityPct = r.between(0, 6)
	case "hourly":
		s.payFreq = choose(r, []string{"weekly", "biweekly"}, []float64{45, 55})
		s.variabilityPct = r.between(5, 22)
	case "benefits":
		s.payFreq = "monthly"
		s.variabilityPct = r.between(0, 3)
	case "gig":
		s.payFreq = choose(r, []string{"irregular", "weekly"}, []float64{70, 30})
		s.variabilityPct = r.between(25, 72)
	case "self_employed":
		s.payFreq = choose(r, []string{"irregular", "monthly"}, []float64{75, 25})
		s.variabilityPct = r.between(20, 60)
	default: // mixed
		s.payFreq = choose(r, []string{"irregular", "biweekly"}, []float64{60, 40})
		s.variabilityPct = r.between(15, 45)
	}
	switch s.payFreq {
	case "weekly":
		s.gapDays = 7
	case "biweekly":
		s.gapDays = 14
	case "semimonthly":
		s.gapDays = 15
	case "monthly":
		s.gapDays = r.intIn(30, 31)
	default:
		s.gapDays = r.intIn(18, 58)
	}
	s.monthlyIncome = round2(s.monthlyIncome)
	s.variabilityPct = round1(s.variabilityPct)
	s.monthlySpend = s.monthlyIncome * r.between(0.72, 1.04)
}

// drawCredit draws credit available and used, and interest charges.
func (s *signals) drawCredit(r *rng, a int) {
	switch a {
	case pStudent:
		s.avail = float64(r.intIn(5, 35) * 100)
		s.util = r.between(4, 72)
	case pHighUtil:
		s.avail = float64(r.intIn(20, 320) * 100)
		s.util = r.normal(76, 12, 51, 99)
	case pSavings:
		s.avail = float64(r.intIn(40, 450) * 100)
		s.util = r.between(0.5, 22)
	default:
		s.avail = float64(r.intIn(25, 350) * 100)
		s.util = r.between(4, 48)
	}
	s.used = round2(s.avail * s.util / 100)
	s.util = round1(s.used / s.avail * 100)
	switch {
	case a == pHighUtil:
		s.interest = r.chance(0.88)
	case s.util > 40:
		s.interest = r.chance(0.6)
	default:
		s.interest = r.chance(0.08)
	}
}

// drawSubscriptions draws recurring merchants, largest first.
func (s *signals) drawSubscriptions(r *rng, a int) {
	var n int
	switch a {
	case pSubs:
		n = r.intIn(5, 12)
	case pStudent:
		n = r.intIn(1, 4)
	default:
		n = r.intIn(0, 4)
	}
	tax := 1 + r.between(0, 0.09)
	var used [64]bool
	for len(s.subs) < n {
		i := r.IntN(len(merchants))
		if used[i] {
			continue
		}
		used[i] = true
		m := merchants[i]
		amt := round2(m.price * tax)
		s.subs = append(s.subs, sub{m.name, amt})
		s.subsMonthly += amt
	}
	sort.SliceStable(s.subs, func(i, j int) bool { return s.subs[i].amount > s.subs[j].amount })
	s.subsMonthly = round2(s.subsMonthly)
	s.subsSharePct = round1(s.subsMonthly / s.monthlySpend * 100)
}

// drawSavings draws savings balance, inflow and the buffers they give.
func (s *signals) drawSavings(r *rng, a int) {
	switch a {
	case pSavings:
		s.balance = r.between(3500, 62000)
		s.inflow = r.between(150, 1900)
	case pStudent:
		s.balance = r.between(0, 1600)
		s.inflow = r.between(-120, 160)
	case pVariable:
		s.balance = r.between(0, 2500)
		s.inflow = r.between(-450, 250)
	default:
		s.balance = r.between(0, 7000)
		s.inflow = r.between(-350, 260)
	}
	s.balance = round2(s.balance)
	s.inflow = round2(s.inflow)
	base := math.Max(s.balance-s.inflow, 100)
	s.growthPct = round1(clamp(s.inflow/base*100, -60, 60))
	s.emergencyMonths = round1(s.balance / s.monthlySpend)
	s.bufferMonth = round1(clamp(s.emergencyMonths*r.between(0.55, 1.0)+r.between(0, 0.3), 0, 12))
	if a == pVariable {
		s.bufferMonth = round1(r.between(0.05, 0.9))
	}
}

// drift180 derives the 180-day window from the 30-day one: the same person,
// averaged over a longer stretch.
func drift180(r *rng, s signals) signals {
	l := s
	l.util = round1(clamp(s.util*r.between(0.8, 1.12), 0, 100))
	l.used = round2(l.avail * l.util / 100)
	if !l.interest && l.util > 40 {
		l.interest = r.chance(0.5)
	}
	l.subs = s.subs
	if len(s.subs) > 1 && r.chance(0.3) {
		l.subs = s.subs[:len(s.subs)-1] // one is newer than six months
	}
	l.subsMonthly = 0
	for _, x := range l.subs {
		l.subsMonthly += x.amount
	}
	l.subsMonthly = round2(l.subsMonthly)
	l.monthlyIncome = round2(s.monthlyIncome * r.between(0.92, 1.05))
	l.monthlySpend = s.monthlySpend * r.between(0.95, 1.05)
	l.subsSharePct = round1(l.subsMonthly / l.monthlySpend * 100)
	l.inflow = round2(s.inflow * r.between(0.7, 1.2))
	l.growthPct = round1(clamp(s.growthPct*r.between(3, 6), -80, 150))
	l.variabilityPct = round1(clamp(s.variabilityPct*r.between(0.85, 1.3), 0, 95))
	l.bufferMonth = round1(s.bufferMonth * r.between(0.8, 1.2))
	l.emergencyMonths = round1(l.balance / l.monthlySpend)
	if s.payFreq == "irregular" {
		l.gapDays = max(10, s.gapDays+r.intIn(-6, 6))
	}
	return l
}

// score rates how well each persona describes s, in [0.05, 0.98].
func score(s signals) [nPersonas]float64 {
	var sc [nPersonas]float64
	// High utilization.
	switch {
	case s.util >= 50:
		sc[pHighUtil] = 0.6 + (s.util-50)/50*0.33
	case s.util >= 30:
		sc[pHighUtil] = 0.3 + (s.util-30)/20*0.2
	default:
		sc[pHighUtil] = s.util / 100
	}
	if s.interest {
		sc[pHighUtil] += 0.05
	}
	// Variable income.
	if (s.gapDays > 45 || s.variabilityPct > 25) && s.bufferMonth < 1 {
		sc[pVariable] = 0.55 + math.Min(s.variabilityPct, 70)/70*0.3 + (1-s.bufferMonth)*0.1
	} else {
		sc[pVariable] = math.Min(s.variabilityPct, 60) / 100
	}
	// Subscriptions.
	n := float64(len(s.subs))
	if n >= 3 && (s.subsMonthly >= 50 || s.subsSharePct >= 10) {
		sc[pSubs] = 0.5 + math.Min(n, 12)/12*0.25 + math.Min(s.subsSharePct, 25)/25*0.2
	} else {
		sc[pSubs] = n * 0.08
	}
	// Savings.
	if (s.growthPct >= 2 || s.inflow >= 200) && s.util < 30 {
		sc[pSavings] = 0.5 + math.Min(math.Max(s.growthPct, 0), 10)/10*0.25 + math.Min(s.emergencyMonths, 6)/6*0.2
	} else {
		sc[pSavings] = math.Min(math.Max(s.emergencyMonths, 0), 6) / 6 * 0.3
	}
	// Student.
	if s.monthlyIncome < 2200 && s.avail <= 4000 && s.incomeType != "salaried" && s.incomeType != "self_employed" {
		sc[pStudent] = 0.55 + (2200-s.monthlyIncome)/2200*0.35
	} else {
		sc[pStudent] = 0.05
	}
	for i := range sc {
		sc[i] = round2(clamp(sc[i], 0.05, 0.98))
	}
	return sc
}

// assign derives a persona from signals: the best score is primary, the
// runner-up is secondary when it is itself a fair match.
func assign(s signals) personaMatch {
	sc := score(s)
	order := rank(sc)
	m := personaMatch{primary: personaNames[order[0]], strength: sc[order[0]], scores: sc}
	if sc[order[1]] >= 0.45 {
		m.secondary = personaNames[order[1]]
	}
	return m
}

// rank orders persona indexes by score, best first (ties by contract order).
func rank(sc [nPersonas]float64) [nPersonas]int {
	var o [nPersonas]int
	for i := range o {
		o[i] = i
	}
	sort.SliceStable(o[:], func(i, j int) bool { return sc[o[i]] > sc[o[j]] })
	return o
}

// criteria lists the rules s meets, for the trace's persona assignment.
func criteria(s signals) []string {
	var c []string
	if s.util >= 50 {
		c = append(c, "aggregate_utilization_pct >= 50")
	} else if s.util >= 30 {
		c = append(c, "aggregate_utilization_pct >= 30")
	}
	if s.interest {
		c = append(c, "any_interest_charges")
	}
	if s.gapDays > 45 {
		c = append(c, "median_pay_gap_days > 45")
	}
	if s.variabilityPct > 25 {
		c = append(c, "income_variability_pct > 25")
	}
	if s.bufferMonth < 1 {
		c = append(c, "cash_flow_buffer_months < 1")
	}
	if len(s.subs) >= 3 {
		c = append(c, "recurring_merchant_count >= 3")
	}
	if s.subsMonthly >= 50 {
		c = append(c, "monthly_recurring_spend >= 50")
	}
	if s.subsSharePct >= 10 {
		c = append(c, "subscription_share_pct >= 10")
	}
	if s.growthPct >= 2 {
		c = append(c, "savings_growth_rate_pct >= 2")
	}
	if s.inflow >= 200 {
		c = append(c, "net_savings_inflow >= 200")
	}
	if s.emergencyMonths >= 3 {
		c = append(c, "emergency_fund_months >= 3")
	}
	if s.monthlyIncome < 2200 {
		c = append(c, "monthly_income < 2200")
	}
	return c
}

// signalsJSON encodes s in the contract's signals shape.
func signalsJSON(j *jw, s signals) string {
	j.reset().open()
	j.key("credit").open().
		key("aggregate_utilization_pct").num(s.util).
		key("total_credit_used").num(s.used).
		key("total_credit_available").num(s.avail).
		key("any_interest_charges").bool(s.interest).close()
	j.key("subscriptions").open().
		key("recurring_merchant_count").int(len(s.subs)).
		key("monthly_recurring_spend").num(s.subsMonthly).
		key("subscription_share_pct").num(s.subsSharePct).
		key("merchants").arr()
	for _, m := range s.subs {
		j.open().key("name").str(m.name).key("amount").num(m.amount).close()
	}
	j.end().close()
	j.key("savings").open().
		key("total_savings_balance").num(s.balance).
		key("savings_growth_rate_pct").num(s.growthPct).
		key("net_savings_inflow").num(s.inflow).
		key("emergency_fund_months").num(s.emergencyMonths).close()
	j.key("income").open().
		key("income_type").str(s.incomeType).
		key("payment_frequency").str(s.payFreq).
		key("median_pay_gap_days").int(s.gapDays).
		key("income_variability_pct").num(s.variabilityPct).
		key("cash_flow_buffer_months").num(s.bufferMonth).
		key("monthly_income").num(s.monthlyIncome).close()
	return j.close().String()
}

// The documents below go into decision traces, which the store keeps in
// canonical JSON (keys sorted at every level, compact): they are written in
// that form directly, so the content hash can be computed over them as is.

// sortedPersonas is personaNames in key order.
var sortedPersonas = func() []int {
	o := []int{pHighUtil, pVariable, pSubs, pSavings, pStudent}
	sort.Slice(o, func(i, j int) bool { return personaNames[o[i]] < personaNames[o[j]] })
	return o
}()

// assignmentJSON encodes a persona assignment in the contract's trace
// shape (keys in canonical order), with each persona's score beside it.
func assignmentJSON(j *jw, m personaMatch, s signals) string {
	j.reset().open().key("criteria_met").arr()
	for _, c := range criteria(s) {
		j.str(c)
	}
	j.end().
		key("primary_match_strength").num(m.strength).
		key("primary_persona").str(m.primary).
		key("scores").open()
	for _, i := range sortedPersonas {
		j.key(personaNames[i]).num(m.scores[i])
	}
	return j.close().key("secondary_persona").strOrNull(m.secondary).close().String()
}

// traceSignalsJSON encodes the signals a persona's recommendations draw on,
// in the contract's section shapes: what the engine detected, as opposed
// to the full profile that GET /users/{id}/signals shows.
func traceSignalsJSON(j *jw, persona int, s signals) string {
	var credit, income, savings, subs bool
	switch persona {
	case pHighUtil:
		credit = true
	case pVariable:
		income, savings = true, true
	case pSubs:
		subs = true
	case pSavings:
		savings, credit = true, true
	default:
		income, credit = true, true
	}
	j.reset().open()
	if credit {
		j.key("credit").open().
			key("aggregate_utilization_pct").num(s.util).
			key("any_interest_charges").bool(s.interest).
			key("total_credit_available").num(s.avail).
			key("total_credit_used").num(s.used).close()
	}
	if income {
		j.key("income").open().
			key("cash_flow_buffer_months").num(s.bufferMonth).
			key("income_type").str(s.incomeType).
			key("income_variability_pct").num(s.variabilityPct).
			key("median_pay_gap_days").int(s.gapDays).
			key("monthly_income").num(s.monthlyIncome).
			key("payment_frequency").str(s.payFreq).close()
	}
	if savings {
		j.key("savings").open().
			key("emergency_fund_months").num(s.emergencyMonths).
			key("net_savings_inflow").num(s.inflow).
			key("savings_growth_rate_pct").num(s.growthPct).
			key("total_savings_balance").num(s.balance).close()
	}
	if subs {
		j.key("subscriptions").open().key("merchants").arr()
		for _, m := range s.subs {
			j.open().key("amount").num(m.amount).key("name").str(m.name).close()
		}
		j.end().
			key("monthly_recurring_spend").num(s.subsMonthly).
			key("recurring_merchant_count").int(len(s.subs)).
			key("subscription_share_pct").num(s.subsSharePct).close()
	}
	return j.key("window_type").str("30d").close().String()
}
