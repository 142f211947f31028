package seed

// The fixed vocabulary the generator draws from: names, merchants, the
// education catalog and the words operators use. Everything here is data;
// the choices among it are made by the seeded random source.

var firstNames = []string{
	"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Charlotte", "James",
	"Ava", "William", "Isabella", "Benjamin", "Mia", "Lucas", "Evelyn", "Henry", "Harper", "Theodore",
	"Luna", "Mateo", "Camila", "Jack", "Gianna", "Levi", "Elizabeth", "Alexander", "Eleanor", "Jackson",
	"Ella", "Daniel", "Abigail", "Michael", "Sofia", "Sebastian", "Avery", "Ethan", "Scarlett", "Aiden",
	"Emily", "Samuel", "Aria", "Joseph", "Penelope", "John", "Chloe", "David", "Layla", "Wyatt",
	"Mila", "Matthew", "Nora", "Luke", "Hazel", "Asher", "Madison", "Carter", "Ellie", "Julian",
	"Lily", "Grayson", "Nova", "Leo", "Isla", "Jayden", "Grace", "Gabriel", "Violet", "Isaac",
	"Aurora", "Lincoln", "Riley", "Anthony", "Zoey", "Hudson", "Willow", "Dylan", "Emilia", "Ezra",
	"Priya", "Wei", "Aisha", "Diego", "Fatima", "Hiroshi", "Mei", "Omar", "Yara", "Kwame",
	"Ananya", "Tomasz", "Ingrid", "Rafael", "Leila", "Dmitri", "Chioma", "Kenji", "Lucia", "Arjun",
}

var lastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Patel", "Kim", "Chen", "Singh", "Okafor", "Kowalski", "Schmidt", "Rossi", "Silva", "Tanaka",
	"Cohen", "Murphy", "O'Brien", "Novak", "Ivanova", "Haddad", "Mensah", "Larsen", "Dubois", "Ali",
}

// merchant is a recurring charge with its usual monthly price.
type merchant struct {
	name  string
	price float64
}

var merchants = []merchant{
	{"Netflix", 15.49}, {"Spotify", 11.99}, {"Hulu", 7.99}, {"Disney+", 13.99}, {"Max", 16.99},
	{"Amazon Prime", 14.99}, {"Apple iCloud+", 2.99}, {"YouTube Premium", 13.99}, {"Paramount+", 7.99},
	{"Peacock", 7.99}, {"Apple Music", 10.99}, {"Audible", 14.95}, {"SiriusXM", 10.99},
	{"Xbox Game Pass", 16.99}, {"PlayStation Plus", 9.99}, {"Nintendo Switch Online", 3.99},
	{"Planet Fitness", 24.99}, {"Peloton", 44.00}, {"ClassPass", 49.00}, {"Headspace", 12.99},
	{"Calm", 14.99}, {"Duolingo Super", 12.99}, {"Adobe Creative Cloud", 59.99}, {"Microsoft 365", 9.99},
	{"Google One", 2.99}, {"Dropbox", 11.99}, {"LinkedIn Premium", 39.99}, {"The New York Times", 17.00},
	{"The Wall Street Journal", 38.99}, {"DoorDash DashPass", 9.99}, {"Uber One", 9.99},
	{"Instacart+", 9.99}, {"HelloFresh", 79.96}, {"Chewy Autoship", 42.50}, {"Dollar Shave Club", 10.00},
	{"Patreon", 8.00}, {"Twitch", 5.99}, {"Crunchyroll", 7.99}, {"ChatGPT Plus", 20.00}, {"Canva Pro", 14.99},
}

// content is one item of the education catalog.
type content struct {
	id       string // stable catalog id, e.g. "hu-art-01"
	typ      string
	title    string
	altTitle string // what an operator edits the title to
	slug     string
	minutes  int    // read or watch time; articles and videos only
	blurb    string // what the item does, the rationale's second sentence
}

// catalog lists each persona's education content.
var catalog = map[string][]content{
	"high_utilization": {
		{"hu-art-01", "article", "How credit utilization shapes your credit score", "How credit utilization affects your credit score", "credit-utilization-explained", 6,
			"This 6-minute article explains how utilization is calculated and why the 30% mark matters."},
		{"hu-art-02", "article", "Avalanche or snowball? Two ways to pay down card balances", "Avalanche vs. snowball: choosing a card payoff method", "avalanche-vs-snowball", 8,
			"This article compares paying the highest rate first with paying the smallest balance first."},
		{"hu-art-03", "article", "What a credit limit increase can and can't do for you", "Credit limit increases: what they can and can't do", "credit-limit-increase", 5,
			"This short read covers when asking for a higher limit helps your ratio and when it adds risk."},
		{"hu-vid-01", "video", "Paying more than the minimum: what it really saves", "Why paying more than the minimum pays off", "beyond-the-minimum-payment", 4,
			"This 4-minute video shows how a few extra dollars a month shortens your payoff time."},
		{"hu-vid-02", "video", "How card interest is calculated, in three minutes", "How credit card interest works", "how-card-interest-works", 3,
			"This 3-minute video walks through daily balances, APR and why interest compounds."},
		{"hu-tool-01", "tool", "Credit card payoff planner", "Card payoff planner", "card-payoff-planner", 0,
			"The planner uses your balances to show a month-by-month path to paying them down."},
		{"hu-tool-02", "tool", "Utilization calculator", "Credit utilization calculator", "utilization-calculator", 0,
			"The calculator shows your ratio per card and how much each payment moves it."},
		{"hu-quiz-01", "quiz", "Quiz: how much do you know about credit utilization?", "Quiz: test your credit utilization know-how", "credit-utilization-quiz", 0,
			"This five-question quiz checks the basics and links to the right next read."},
		{"hu-offer-01", "partner_offer", "0% intro APR balance transfer card", "Balance transfer card with a 0% intro APR", "balance-transfer-card", 0,
			"A partner card offers 0% intro APR on balance transfers for 18 months; a transfer fee and credit approval apply."},
		{"hu-offer-02", "partner_offer", "Debt consolidation loan from a partner credit union", "Partner credit union consolidation loan", "consolidation-loan", 0,
			"A partner credit union offers fixed-rate consolidation loans; rates depend on credit approval."},
	},
	"variable_income_budgeter": {
		{"vi-art-01", "article", "Budgeting on an irregular income: the baseline method", "The baseline budget for irregular income", "irregular-income-baseline-budget", 7,
			"This 7-minute article shows how to build a budget around your leanest typical month."},
		{"vi-art-02", "article", "Building a buffer month so payday stops running your budget", "How to get one month ahead on bills", "buffer-month", 6,
			"This article explains how living on last month's income smooths out uneven pay."},
		{"vi-art-03", "article", "Estimated taxes for gig workers, in plain English", "A plain-English guide to estimated taxes", "gig-estimated-taxes", 9,
			"This guide covers quarterly estimated taxes and how much to set aside from each payment."},
		{"vi-vid-01", "video", "Smoothing lumpy income with a holding account", "Using a holding account for uneven pay", "holding-account", 5,
			"This 5-minute video shows how to pay yourself a steady amount from a separate account."},
		{"vi-tool-01", "tool", "Variable income budget builder", "Irregular income budget builder", "variable-income-budget", 0,
			"The budget builder uses your last six months of deposits to suggest a safe monthly baseline."},
		{"vi-tool-02", "tool", "Tax set-aside estimator", "Quarterly tax set-aside estimator", "tax-set-aside", 0,
			"The estimator suggests a percentage of each payment to keep aside for taxes."},
		{"vi-quiz-01", "quiz", "Quiz: is your budget ready for a slow month?", "Quiz: could your budget handle a slow month?", "slow-month-quiz", 0,
			"This short quiz checks how prepared your budget is for a gap in pay."},
		{"vi-offer-01", "partner_offer", "High-yield savings with no minimum balance", "No-minimum high-yield savings account", "hysa-no-minimum", 0,
			"A partner bank offers a high-yield savings account with no minimum balance; the rate is variable."},
	},
	"subscription_heavy": {
		{"sh-art-01", "article", "The subscription audit: find what you pay for and don't use", "Run a 15-minute subscription audit", "subscription-audit", 5,
			"This 5-minute article walks through a quick review of every recurring charge."},
		{"sh-art-02", "article", "Annual or monthly billing: when paying upfront saves money", "Annual vs. monthly billing: which saves more?", "annual-vs-monthly-billing", 4,
			"This article shows when switching to annual billing is worth it and when it locks you in."},
		{"sh-vid-01", "video", "Rotate your streaming services instead of stacking them", "Rotating streaming services to save", "rotate-streaming", 3,
			"This 3-minute video shows how to keep one or two services at a time and rotate."},
		{"sh-vid-02", "video", "Free trials that turn into charges, and how to avoid them", "How to stop free trials becoming charges", "free-trial-traps", 4,
			"This 4-minute video covers reminders and card controls that stop surprise renewals."},
		{"sh-tool-01", "tool", "Subscription tracker", "Recurring charges tracker", "subscription-tracker", 0,
			"The tracker lists every recurring charge we found, with renewal dates and yearly totals."},
		{"sh-quiz-01", "quiz", "Quiz: what do your subscriptions cost per year?", "Quiz: guess your yearly subscription total", "subscription-cost-quiz", 0,
			"This quiz asks you to guess your yearly total before showing the real figure."},
		{"sh-offer-01", "partner_offer", "Bill negotiation service from a partner", "Partner bill negotiation service", "bill-negotiation", 0,
			"A partner negotiates lower rates on recurring bills and keeps a share of the first year's savings."},
	},
	"savings_builder": {
		{"sb-art-01", "article", "Where to keep an emergency fund", "Choosing a home for your emergency fund", "emergency-fund-where", 6,
			"This 6-minute article compares savings accounts, money market accounts and CDs."},
		{"sb-art-02", "article", "Automate your savings: pay yourself first", "Pay yourself first with automatic transfers", "pay-yourself-first", 5,
			"This article shows how to schedule a transfer on payday so saving happens by default."},
		{"sb-art-03", "article", "After the emergency fund: retirement account basics", "What comes after an emergency fund", "after-emergency-fund", 8,
			"This 8-minute article introduces employer plans and IRAs in general terms."},
		{"sb-vid-01", "video", "High-yield savings accounts, explained", "How high-yield savings accounts work", "hysa-explained", 4,
			"This 4-minute video explains APY, variable rates and deposit insurance."},
		{"sb-tool-01", "tool", "Emergency fund goal calculator", "Emergency fund calculator", "emergency-fund-calculator", 0,
			"The calculator uses your monthly spending to set a target and a timeline."},
		{"sb-tool-02", "tool", "Savings goal tracker", "Savings goals tracker", "savings-goal-tracker", 0,
			"The tracker splits your savings into named goals and shows progress on each."},
		{"sb-quiz-01", "quiz", "Quiz: how big should your emergency fund be?", "Quiz: find your emergency fund target", "emergency-fund-quiz", 0,
			"This short quiz suggests a target range based on how steady your income is."},
		{"sb-offer-01", "partner_offer", "CD ladder from a partner bank", "Partner bank certificate of deposit ladder", "cd-ladder", 0,
			"A partner bank offers 6- to 24-month CDs that can be laddered; early withdrawal penalties apply."},
	},
	"student": {
		{"st-art-01", "article", "Building credit as a student without taking on debt", "How students can build credit without debt", "student-credit-building", 6,
			"This 6-minute article covers first cards, on-time payments and keeping balances small."},
		{"st-art-02", "article", "A student budget that works on part-time income", "Budgeting on a part-time student income", "student-budget", 5,
			"This article lays out a simple budget for irregular, part-time pay."},
		{"st-vid-01", "video", "Student loans 101: grace periods, interest and repayment plans", "Student loan basics in six minutes", "student-loans-101", 6,
			"This 6-minute video explains how interest builds while you study and what your options are."},
		{"st-tool-01", "tool", "Student budget planner", "Budget planner for students", "student-budget-planner", 0,
			"The planner starts from your real deposits and spending to build a term budget."},
		{"st-quiz-01", "quiz", "Quiz: credit basics for your first card", "Quiz: are you ready for your first card?", "first-card-quiz", 0,
			"This quiz covers statement dates, minimum payments and how your score is built."},
		{"st-offer-01", "partner_offer", "Student checking with no monthly fees", "Fee-free student checking account", "student-checking", 0,
			"A partner bank offers student checking with no monthly fee or minimum balance while enrolled."},
		{"st-offer-02", "partner_offer", "Secured card for building credit", "Secured credit card for first-time borrowers", "secured-card", 0,
			"A partner issuer offers a secured card with a refundable deposit that reports to all three bureaus."},
	},
}

// Operators who act in the seeded history. The last two act as senior
// operators: they resolve flags and override failed guardrails.
var (
	reviewers = []string{"op_001", "op_002", "op_003", "op_004", "op_005", "op_006"}
	seniors   = []string{"op_007", "op_008"}
)

var approveNotes = []string{
	"Looks good.",
	"Numbers match the user's signals.",
	"Clear, accurate and on-persona.",
	"Verified utilization figure against the latest statement.",
	"Checked tone and disclosures; fine to send.",
	"Good fit for this persona.",
}

var overrideNotes = []string{
	"Override: eligibility data was stale; partner confirmed the user qualifies.",
	"Override: tone check false positive on the word 'debt'; wording reviewed by compliance.",
	"Override: advice check tripped on the product name only; content is educational.",
}

var rejectReasons = []string{
	"Not relevant to the user's current situation.",
	"Rationale makes a claim we can't verify from the signals.",
	"Partner offer is not appropriate for a user carrying high balances.",
	"Duplicate of content the user received this month.",
	"Tone is not appropriate for a customer-facing message.",
	"Reads as personalized financial advice rather than education.",
	"Content link points to an outdated version of the article.",
	"Failed guardrail confirmed on review; do not send.",
}

var flagReasons = []string{
	"Rationale cites a figure that doesn't match the latest statement.",
	"Partner offer may not suit a user with high card balances.",
	"Tone reads as judgmental; needs a compliance look.",
	"Possible specific investment advice; needs senior review.",
	"User may not meet the offer's eligibility criteria.",
	"Title overpromises results.",
	"Possible duplicate of last week's recommendation.",
}

var resolveNotes = map[string][]string{
	"approve": {
		"Reviewed with compliance; figures check out.",
		"Eligibility confirmed with the partner; fine to send.",
		"Wording is educational, not advice. Approved.",
	},
	"reject": {
		"Confirmed: offer not suitable for this user.",
		"Figures are stale; the engine will regenerate.",
		"Agree with the flag; tone is off.",
	},
	"requeue": {
		"Edited the rationale; back to the queue for normal review.",
		"Checked the numbers; no issue. Returning to the queue.",
		"Clarified with the content team; requeued.",
	},
}

// Sentences a recommendation gains when a guardrail fails, so that reviewers
// see why the check tripped.
var (
	toneFailures = []string{
		"Frankly, this level of spending is hard to justify.",
		"You really need to get this under control.",
	}
	adviceFailures = []string{
		"You should move your savings into this product today.",
		"We recommend you apply now before rates change.",
	}
	eligibilityFailures = []string{
		"Approval is likely based on your profile.",
		"You are pre-qualified for this offer.",
	}
)

var deliveryErrors = []struct {
	msg      string
	attempts int
}{
	{"webhook responded 503 Service Unavailable", 8},
	{"webhook responded 502 Bad Gateway", 8},
	{"Post \"https://notify.internal/webhooks/recommendations\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 8},
	{"webhook responded 410 Gone", 1},
	{"webhook responded 400 Bad Request: unknown recipient", 1},
	{"webhook responded 429 Too Many Requests", 8},
}

var llmModels = []struct {
	name   string
	weight float64
}{
	{"gpt-4o-mini-2024-07-18", 0.62},
	{"gpt-4o-2024-08-06", 0.23},
	{"claude-3-5-haiku-20241022", 0.15},
}

var temperatures = []float64{0.2, 0.3, 0.3, 0.4, 0.5, 0.7}
