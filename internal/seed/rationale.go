package seed

import (
	"math"
	"strconv"
	"strings"
)

var incomeTypeWords = map[string]string{
	"salaried":      "salaried",
	"hourly":        "hourly",
	"gig":           "gig",
	"self_employed": "self-employed",
	"benefits":      "benefits",
	"mixed":         "mixed-income",
}

var payFreqWords = map[string]string{
	"weekly":      "weekly",
	"biweekly":    "every-two-weeks",
	"semimonthly": "twice-monthly",
	"monthly":     "monthly",
	"irregular":   "irregular",
}

// rationale writes the first, personal sentence of a recommendation for a
// user with signals s, seen as persona: the user's own numbers, then why
// they matter. The catalog item adds the second sentence.
func rationale(r *rng, persona string, s signals) string {
	switch persona {
	case "high_utilization":
		return rationaleCredit(r, s)
	case "variable_income_budgeter":
		return rationaleIncome(r, s)
	case "subscription_heavy":
		return rationaleSubs(r, s)
	case "savings_builder":
		return rationaleSavings(r, s)
	default:
		return rationaleStudent(r, s)
	}
}

func rationaleCredit(r *rng, s signals) string {
	to30 := s.used - s.avail*0.3
	switch r.IntN(3) {
	case 0:
		return "Your card utilization is " + pct(s.util) + " (" + wholeMoney(s.used) + " of " + wholeMoney(s.avail) +
			" in available credit). Utilization above 30% can weigh on your credit score, and bringing it down is one of the quicker ways to help it."
	case 1:
		var b strings.Builder
		b.WriteString("You're using " + pct(s.util) + " of your available credit")
		if s.interest {
			b.WriteString(" and paid interest charges this month")
		}
		b.WriteString(".")
		if to30 > 0 {
			b.WriteString(" Paying down about " + wholeMoney(to30) + " would bring you under 30%.")
		} else {
			b.WriteString(" Keeping it under 30% protects your score as balances change.")
		}
		return b.String()
	default:
		msg := "With " + wholeMoney(s.used) + " in card balances against " + wholeMoney(s.avail) + " of limits, your utilization is " + pct(s.util) + "."
		if s.interest {
			return msg + " Carrying a balance means interest is added every month, so a payoff plan can save you money."
		}
		return msg + " A plan for paying balances in full each month can keep it from creeping up."
	}
}

func rationaleIncome(r *rng, s signals) string {
	switch r.IntN(3) {
	case 0:
		return "Your income varied by " + pct(s.variabilityPct) + " over the last 30 days, with a median of " + strconv.Itoa(s.gapDays) +
			" days between paychecks. A budget built on your leaner months can keep bills covered when pay arrives late."
	case 1:
		return "You have about " + num(s.bufferMonth) + " months of expenses set aside as a cash buffer, and " + payFreqWords[s.payFreq] +
			" pay. Growing that buffer toward one month can take the stress out of uneven paychecks."
	default:
		return "As a " + incomeTypeWords[s.incomeType] + " earner bringing in about " + wholeMoney(s.monthlyIncome) +
			" a month, setting aside a fixed share of each payment can smooth out the gaps between good and slow weeks."
	}
}

func rationaleSubs(r *rng, s signals) string {
	if len(s.subs) == 0 {
		return "We found no recurring subscriptions in the last 30 days, out of about " + wholeMoney(s.monthlySpend) +
			" in monthly spending. Alerts for new recurring charges keep it that way."
	}
	top := s.subs[0]
	list := top.name + " (" + money(top.amount) + ")"
	if len(s.subs) > 1 {
		list += " and " + s.subs[1].name + " (" + money(s.subs[1].amount) + ")"
	}
	switch r.IntN(3) {
	case 0:
		return "You have " + strconv.Itoa(len(s.subs)) + " recurring subscriptions totalling " + money(s.subsMonthly) + " a month, " +
			pct(s.subsSharePct) + " of your spending. The largest are " + list + "."
	case 1:
		return "Your subscriptions add up to about " + wholeMoney(s.subsMonthly*12) + " a year across " + strconv.Itoa(len(s.subs)) +
			" merchants, including " + list + ". A quick review often finds one or two you no longer use."
	default:
		return "Recurring charges take " + pct(s.subsSharePct) + " of your monthly spending (" + money(s.subsMonthly) +
			"). Your biggest is " + top.name + " at " + money(top.amount) + " a month."
	}
}

func rationaleSavings(r *rng, s signals) string {
	if s.inflow <= 0 {
		return "Your savings balance is " + wholeMoney(s.balance) + ", about " + num(s.emergencyMonths) +
			" months of expenses, and it shrank by " + wholeMoney(-s.inflow) + " this month. A small automatic transfer on payday can turn that around."
	}
	switch r.IntN(3) {
	case 0:
		return "Your savings balance of " + wholeMoney(s.balance) + " grew " + pct(s.growthPct) + " this month, with " +
			wholeMoney(s.inflow) + " in net deposits. That covers about " + num(s.emergencyMonths) + " months of expenses."
	case 1:
		if s.emergencyMonths >= 6 {
			return "You already have about " + num(s.emergencyMonths) + " months of expenses saved (" + wholeMoney(s.balance) +
				"), so where that money is kept matters as much as adding to it."
		}
		gap := 6*s.monthlySpend - s.balance
		months := int(math.Ceil(gap / s.inflow))
		if months > 36 {
			return "You're adding about " + wholeMoney(s.inflow) + " a month to savings, " + wholeMoney(gap) +
				" short of a six-month emergency fund. A bigger automatic transfer on payday would close that gap sooner."
		}
		return "You're adding about " + wholeMoney(s.inflow) + " a month to savings. At this pace you could reach a six-month emergency fund in about " +
			strconv.Itoa(months) + " months."
	default:
		return "You've saved " + wholeMoney(s.balance) + " and added " + wholeMoney(s.inflow) +
			" this month. Automating that amount keeps the habit going even in busy months."
	}
}

func rationaleStudent(r *rng, s signals) string {
	switch r.IntN(3) {
	case 0:
		return "With about " + wholeMoney(s.monthlyIncome) + " a month in " + incomeTypeWords[s.incomeType] + " income and " +
			wholeMoney(s.avail) + " of available credit, keeping card balances low now builds a strong credit history for later."
	case 1:
		return "Your card utilization is " + pct(s.util) + " on a " + wholeMoney(s.avail) +
			" limit. Paying the statement balance in full each month is the simplest way to build credit while you study."
	default:
		return "You have " + wholeMoney(s.balance) + " in savings on about " + wholeMoney(s.monthlyIncome) +
			" a month. Even $25 a week set aside adds up to a useful cushion by the end of the term."
	}
}

// severity is how urgent persona's issue looks in s, roughly in [0, 1].
func severity(persona string, s signals) float64 {
	switch persona {
	case "high_utilization":
		return (s.util - 30) / 70
	case "variable_income_budgeter":
		return (1-math.Min(s.bufferMonth, 1))*0.6 + math.Min(s.variabilityPct, 70)/70*0.4
	case "subscription_heavy":
		return math.Min(s.subsMonthly/250, 1)
	case "savings_builder":
		if s.emergencyMonths < 3 {
			return 0.5
		}
		return 0.2
	default:
		return 0.4
	}
}
