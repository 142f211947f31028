package seed

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

var (
	typeNames   = []string{"article", "video", "tool", "quiz", "partner_offer"}
	typeWeights = []float64{0.34, 0.20, 0.20, 0.14, 0.12}
)

// byType is the catalog indexed by persona and type; urls has each item's
// URL by id.
var byType, urls = func() (map[string]map[string][]content, map[string]any) {
	m, u := map[string]map[string][]content{}, map[string]any{}
	for p, items := range catalog {
		m[p] = map[string][]content{}
		for _, c := range items {
			m[p][c.typ] = append(m[p][c.typ], c)
			u[c.id] = contentURL(c)
		}
	}
	return m, u
}()

// contentURL is where an item lives; articles and videos also have a read
// (or watch) time, the others not.
func contentURL(c content) string {
	switch c.typ {
	case "article":
		return "https://learn.spendsense.example/articles/" + c.slug
	case "video":
		return "https://learn.spendsense.example/videos/" + c.slug
	case "tool":
		return "https://app.spendsense.example/tools/" + c.slug
	case "quiz":
		return "https://learn.spendsense.example/quizzes/" + c.slug
	}
	return "https://offers.spendsense.example/" + c.slug
}

// boxes holds the fixed strings the rows repeat, already converted to
// interface values: binding them then costs no allocation.
var boxes = func() map[string]any {
	m := map[string]any{}
	add := func(list ...string) {
		for _, s := range list {
			m[s] = s
		}
	}
	add(reviewers...)
	add(seniors...)
	add(review.Statuses...)
	add(review.Personas...)
	add(review.Types...)
	add(review.Priorities...)
	add(review.Actions...)
	add("approve", "reject", "requeue", "queued", "delivered", "failed")
	for _, m := range llmModels {
		add(m.name)
	}
	return m
}()

func bx(s string) any {
	if v, ok := boxes[s]; ok {
		return v
	}
	return s
}

// The steps of a recommendation's review history.
type kind int

const (
	kModify kind = iota
	kFlag
	kResolveApprove
	kResolveReject
	kResolveRequeue
	kApprove
	kReject
)

type event struct {
	k   kind
	at  time.Time
	atv any // at, bound
	op  string
}

// history draws the review history that ends in status, oldest first.
func (g *generator) history(status string) []kind {
	r := g.r
	var h []kind
	switch status {
	case "pending":
		if r.chance(0.08) {
			h = append(h, kModify)
		}
		if r.chance(0.03) {
			h = append(h, kFlag, kResolveRequeue)
		}
	case "approved":
		if r.chance(0.12) {
			h = append(h, kModify)
		}
		switch x := r.Float64(); {
		case x < 0.08:
			h = append(h, kFlag, kResolveApprove)
		case x < 0.10:
			h = append(h, kFlag, kResolveRequeue, kApprove)
		default:
			h = append(h, kApprove)
		}
	case "rejected":
		if r.chance(0.08) {
			h = append(h, kModify)
		}
		switch x := r.Float64(); {
		case x < 0.12:
			h = append(h, kFlag, kResolveReject)
		case x < 0.15:
			h = append(h, kFlag, kResolveRequeue, kReject)
		default:
			h = append(h, kReject)
		}
	case "flagged":
		if r.chance(0.08) {
			h = append(h, kModify)
		}
		if r.chance(0.04) {
			h = append(h, kFlag, kResolveRequeue)
		}
		h = append(h, kFlag)
		if r.chance(0.10) {
			h = append(h, kModify)
		}
	}
	return h
}

// status draws a final status for the recommendation at position frac of
// the timeline (0 oldest, 1 newest): older items are more often reviewed.
func (g *generator) status(frac float64, guardrailsOK bool, age time.Duration) string {
	r := g.r
	if age < 15*time.Minute {
		return "pending"
	}
	if !guardrailsOK {
		return choose(r, []string{"pending", "rejected", "flagged", "approved"}, []float64{0.50, 0.30, 0.15, 0.05})
	}
	if r.chance(0.35 + 0.6*frac*frac) {
		return "pending"
	}
	return choose(r, []string{"approved", "rejected", "flagged"}, []float64{25, 12, 8})
}

var reviewerWeights = []float64{0.25, 0.2, 0.18, 0.15, 0.12, 0.10}

// rec generates recommendation i of n and appends every row it implies:
// the recommendation, its audit trail, flag and delivery, and its trace.
// Every random draw happens in a fixed order, so a seed is reproducible.
func (g *generator) rec(c *chunk, i, n int) {
	r := g.r
	id := counterID("rec_", i+1, 9)
	idv := any(id) // bound in several rows: box it once
	frac, created, generated := g.recTimes(i, n)

	u := &g.users[r.IntN(len(g.users))]
	persona, secondary := g.recPersona(u)
	typ := choose(r, typeNames, typeWeights)
	item := pick(r, byType[persona][typ])
	priority := g.recPriority(persona, typ, u)
	gr := g.recGuardrails(typ, rationale(r, persona, u.sig)+" "+item.blurb)
	if !gr.all() {
		g.sum.GuardrailFailures++
	}

	contentURL, readTime := urls[item.id], any(nil)
	if item.minutes > 0 {
		readTime = item.minutes
	}
	tr := g.trace(u, persona, item, generated)
	hash := g.hash.sum(ingested{id: id, userID: u.id, persona: persona, secondary: secondary, typ: typ, title: item.title,
		rationale: gr.text, priority: priority, contentURL: contentURL, readTime: readTime,
		tone: gr.tone, advice: gr.advice, elig: gr.elig, generated: generated, trace: &tr})

	status := g.status(frac, gr.all(), g.now.Sub(created))
	events := g.times(g.history(status), created)
	rv := g.review(c, idv, events, item, priority, gr)

	createdV := g.ts(created)
	updatedV := createdV
	if len(events) > 0 {
		updatedV = events[len(events)-1].atv
	}
	c.v[tRecs] = append(c.v[tRecs], idv, u.idv, bx(persona), secondary, bx(typ), rv.title, gr.text, bx(rv.priority), bx(status),
		contentURL, readTime, gr.tone, gr.advice, gr.elig, gr.all(),
		rv.approvedBy, rv.approvedAt, rv.rejectedBy, rv.rejectedAt, rv.modifiedBy, rv.modifiedAt, rv.notes,
		g.ts(generated), createdV, updatedV, 1+len(events), hash)
	g.sum.Recommendations++
	g.sum.ByStatus[status]++

	if status == "approved" {
		g.delivery(c, idv, rv.approvedTime, rv.approvedAt)
	}
	c.v[tTraces] = append(c.v[tTraces], r.uuid7(created), idv, g.ts(tr.detected), g.ts(tr.assigned), g.ts(tr.matched),
		g.ts(tr.rationale), g.ts(tr.guardrails), tr.signals, tr.assignment, tr.matches, tr.scores,
		bx(tr.model), tr.temperature, tr.tokens, createdV)
	g.sum.DecisionTraces++
}

// recTimes spreads recommendation i of n evenly over the 30 days before
// now, in id order: its position in the span (0 to 1), when it entered the
// queue and, a little before, when the engine generated it.
func (g *generator) recTimes(i, n int) (frac float64, created, generated time.Time) {
	span := 30 * 24 * time.Hour
	frac = (float64(i) + g.r.Float64()) / float64(n)
	created = g.now.Add(-span + time.Duration(frac*float64(span))).Truncate(time.Microsecond)
	if !created.Before(g.now) {
		created = g.now.Add(-time.Microsecond)
	}
	return frac, created, created.Add(-g.r.dur(2*time.Second, 4*time.Minute))
}

// recPersona is the persona a recommendation is for: mostly the user's
// primary, sometimes the secondary (or the 180-day one), rarely another;
// secondary is the other of the user's two (nil when none).
func (g *generator) recPersona(u *user) (persona string, secondary any) {
	persona = u.persona.primary
	switch x := g.r.Float64(); {
	case x < 0.80:
	case x < 0.93:
		if u.persona.secondary != "" {
			persona = u.persona.secondary
		} else {
			persona = u.persona180.primary
		}
	default:
		persona = personaNames[g.r.IntN(nPersonas)]
	}
	if persona == u.persona.primary {
		if u.persona.secondary != "" {
			secondary = u.persona.secondary
		}
	} else {
		secondary = u.persona.primary
	}
	return persona, secondary
}

// recPriority follows how severe the user's situation is for the persona,
// with noise; partner offers rank lower.
func (g *generator) recPriority(persona, typ string, u *user) string {
	sev := severity(persona, u.sig)
	if typ == "partner_offer" {
		sev -= 0.15
	}
	switch p := sev + 0.15*g.r.NormFloat64(); {
	case p > 0.62:
		return "high"
	case p > 0.32:
		return "medium"
	}
	return "low"
}

// guardrails are a recommendation's three checks and the rationale text
// that fails them.
type guardrails struct {
	tone, advice, elig bool
	text               string
}

func (gr guardrails) all() bool { return gr.tone && gr.advice && gr.elig }

// recGuardrails fails about 8% of recommendations on one or more checks
// (offers far more often, mostly on eligibility), adding to text the
// sentence that fails each.
func (g *generator) recGuardrails(typ, text string) guardrails {
	r := g.r
	gr := guardrails{tone: true, advice: true, elig: true, text: text}
	failP := 0.06
	if typ == "partner_offer" {
		failP = 0.25
	}
	if !r.chance(failP) {
		return gr
	}
	w := []float64{0.45, 0.45, 0.10}
	if typ == "partner_offer" {
		w = []float64{0.10, 0.20, 0.70}
	}
	for range 1 + b2i(r.chance(0.1)) {
		switch weighted(r, w) {
		case 0:
			if gr.tone {
				gr.tone = false
				gr.text += " " + pick(r, toneFailures)
			}
		case 1:
			if gr.advice {
				gr.advice = false
				gr.text += " " + pick(r, adviceFailures)
			}
		default:
			if gr.elig {
				gr.elig = false
				gr.text += " " + pick(r, eligibilityFailures)
			}
		}
	}
	return gr
}

// reviewed is what a recommendation's review history left on its row.
type reviewed struct {
	title, priority                                                               string
	approvedBy, approvedAt, rejectedBy, rejectedAt, modifiedBy, modifiedAt, notes any
	approvedTime                                                                  time.Time
}

// review plays a recommendation's review events: each gets its operator
// and audit row, a flag its row (closed by its resolution), and the
// decisions their marks on the recommendation.
func (g *generator) review(c *chunk, idv any, events []event, item content, priority string, gr guardrails) reviewed {
	r, j := g.r, &g.j
	rv := reviewed{title: item.title, priority: priority}
	var (
		flagID      string
		flagRow     int // index into c.v[tFlags] of the open flag row
		titleEdited bool
	)
	for k := range events {
		e := &events[k]
		switch e.k {
		case kModify:
			e.op = choose(r, reviewers, reviewerWeights)
			j.reset().open().key("modifications").open()
			if !titleEdited && r.chance(0.7) {
				titleEdited = true
				j.key("title").open().key("from").str(rv.title).key("to").str(item.altTitle).close()
				rv.title = item.altTitle
			} else {
				to := pick(r, []string{"high", "medium", "low"})
				for to == rv.priority {
					to = pick(r, []string{"high", "medium", "low"})
				}
				j.key("priority").open().key("from").str(rv.priority).key("to").str(to).close()
				rv.priority = to
			}
			j.close().close()
			rv.modifiedBy, rv.modifiedAt = bx(e.op), e.atv
			g.audit(c, e, "modify", idv, j.String())
		case kFlag:
			e.op = choose(r, reviewers, reviewerWeights)
			reason := pick(r, flagReasons)
			flagID = r.uuid7(e.at)
			flagRow = len(c.v[tFlags])
			c.v[tFlags] = append(c.v[tFlags], flagID, idv, bx(e.op), reason, false, nil, nil, nil, nil, e.atv)
			g.sum.Flags++
			g.sum.OpenFlags++
			j.reset().open().key("flag_id").str(flagID).key("reason").str(reason).close()
			g.audit(c, e, "flag", idv, j.String())
		case kResolveApprove, kResolveReject, kResolveRequeue:
			e.op = pick(r, seniors)
			res, to := "approve", "approved"
			if e.k == kResolveReject {
				res, to = "reject", "rejected"
			} else if e.k == kResolveRequeue {
				res, to = "requeue", "pending"
			}
			note := pick(r, resolveNotes[res])
			override := e.k == kResolveApprove && !gr.all()
			if override {
				note = pick(r, overrideNotes)
			}
			row := c.v[tFlags][flagRow : flagRow+flagCols]
			row[4], row[5], row[6], row[7], row[8] = true, bx(e.op), e.atv, bx(res), note
			g.sum.OpenFlags--
			j.reset().open().key("flag_id").str(flagID).key("notes").str(note)
			if override {
				j.key("override_guardrails").bool(true)
			}
			j.key("resolution").str(res).key("to_status").str(to).close()
			g.audit(c, e, "resolve_flag", idv, j.String())
			switch e.k {
			case kResolveApprove:
				rv.approvedBy, rv.approvedAt, rv.notes, rv.approvedTime = bx(e.op), e.atv, note, e.at
			case kResolveReject:
				rv.rejectedBy, rv.rejectedAt, rv.notes = bx(e.op), e.atv, note
			}
		case kApprove:
			note := ""
			override := !gr.all()
			if override {
				e.op = pick(r, seniors)
				note = pick(r, overrideNotes)
			} else {
				e.op = choose(r, reviewers, reviewerWeights)
				if r.chance(0.4) {
					note = pick(r, approveNotes)
				}
			}
			j.reset().open().key("from_status").str("pending")
			if override {
				j.key("guardrails").open().key("tone_check").bool(gr.tone).key("advice_check").bool(gr.advice).
					key("eligibility_check").bool(gr.elig).close()
			}
			j.key("notes").str(note)
			if override {
				j.key("override_guardrails").bool(true)
			}
			j.close()
			g.audit(c, e, "approve", idv, j.String())
			rv.approvedBy, rv.approvedAt, rv.approvedTime = bx(e.op), e.atv, e.at
			if note != "" {
				rv.notes = note
			}
		case kReject:
			e.op = choose(r, reviewers, reviewerWeights)
			reason := pick(r, rejectReasons)
			if !gr.all() && r.chance(0.6) {
				reason = rejectReasons[len(rejectReasons)-1]
			}
			j.reset().open().key("from_status").str("pending").key("reason").str(reason).close()
			g.audit(c, e, "reject", idv, j.String())
			rv.rejectedBy, rv.rejectedAt, rv.notes = bx(e.op), e.atv, reason
		}
	}
	return rv
}

// times spreads the events of a history over the time after created: most
// reviews happen within hours, some take days; never after now.
func (g *generator) times(kinds []kind, created time.Time) []event {
	if len(kinds) == 0 {
		return nil
	}
	r := g.r
	avail := g.now.Sub(created) - time.Second
	span := min(time.Duration(float64(avail)*0.98), r.dur(20*time.Minute, 72*time.Hour))
	fr := make([]float64, len(kinds))
	for k := range fr {
		fr[k] = 0.01 + 0.99*r.Float64()
	}
	slices.Sort(fr)
	ev := make([]event, len(kinds))
	for k := range ev {
		at := created.Add(time.Duration(fr[k] * float64(span))).Truncate(time.Microsecond)
		if k > 0 && !at.After(ev[k-1].at) {
			at = ev[k-1].at.Add(time.Microsecond)
		}
		ev[k] = event{k: kinds[k], at: at, atv: g.ts(at)}
	}
	return ev
}

func (g *generator) audit(c *chunk, e *event, action string, recID any, meta string) {
	c.v[tAudit] = append(c.v[tAudit], g.r.uuid7(e.at), bx(e.op), bx(action), recID, meta, e.atv)
	g.sum.AuditLogs++
	g.sum.ByAction[action]++
}

// delivery writes the delivery row of an approval: mostly delivered, some
// failed, recent ones often still queued (and a few stuck in the queue).
func (g *generator) delivery(c *chunk, id any, approved time.Time, approvedV any) {
	r := g.r
	now := g.now
	at := func(d time.Duration) time.Time {
		t := approved.Add(d)
		if t.After(now) {
			t = now
		}
		return t.Truncate(time.Microsecond)
	}
	var status string
	var attempts int
	var lastErr, deliveredAt, failedAt any
	updated := approved
	switch {
	case r.chance(0.01) || now.Sub(approved) < 24*time.Hour && r.chance(0.4):
		status = "queued"
		if r.chance(0.3) {
			attempts = r.intIn(1, 3)
			lastErr = "webhook responded 503 Service Unavailable"
			updated = at(r.dur(time.Second, 20*time.Minute))
		}
	case r.chance(0.045):
		status = "failed"
		e := pick(r, deliveryErrors)
		attempts, lastErr = e.attempts, e.msg
		if attempts == 1 {
			updated = at(r.dur(200*time.Millisecond, 3*time.Second))
		} else {
			updated = at(r.dur(30*time.Minute, 3*time.Hour))
		}
		failedAt = g.ts(updated)
	default:
		status = "delivered"
		attempts = 1
		d := r.dur(150*time.Millisecond, 3*time.Second)
		if r.chance(0.07) {
			attempts = r.intIn(2, 3)
			d = r.dur(10*time.Second, 10*time.Minute)
		}
		updated = at(d)
		deliveredAt = g.ts(updated)
	}
	updatedV := approvedV
	if !updated.Equal(approved) {
		updatedV = g.ts(updated)
		if deliveredAt != nil {
			deliveredAt = updatedV
		}
		if failedAt != nil {
			failedAt = updatedV
		}
	}
	c.v[tDeliveries] = append(c.v[tDeliveries], id, bx(status), attempts, lastErr, approvedV, deliveredAt, failedAt, updatedV)
	g.sum.Deliveries++
	g.sum.ByDelivery[status]++
}

// trace is a decision trace: the pipeline's steps, in order, before the
// recommendation was generated.
type trace struct {
	detected, assigned, matched, rationale, guardrails time.Time
	signals, assignment, matches, scores               string
	model                                              string
	temperature                                        float64
	tokens                                             int
}

func (g *generator) trace(u *user, persona string, item content, generated time.Time) trace {
	r := g.r
	var t trace
	t.guardrails = generated.Add(-r.dur(50*time.Millisecond, 500*time.Millisecond)).Truncate(time.Microsecond)
	t.rationale = t.guardrails.Add(-r.dur(300*time.Millisecond, 1500*time.Millisecond)).Truncate(time.Microsecond)
	t.matched = t.rationale.Add(-r.dur(1500*time.Millisecond, 6*time.Second)).Truncate(time.Microsecond)
	t.assigned = t.matched.Add(-r.dur(100*time.Millisecond, 800*time.Millisecond)).Truncate(time.Microsecond)
	t.detected = t.assigned.Add(-r.dur(200*time.Millisecond, 2*time.Second)).Truncate(time.Microsecond)

	// Candidates, best first: the chosen item, then a few others it beat.
	j := &g.j
	top := round2(r.between(0.78, 0.97))
	j.reset().arr()
	label := strings.ReplaceAll(persona, "_", " ")
	j.open().key("content_id").str(item.id).key("match_reason").str("best fit for the " + label + " persona's signals").
		key("relevance_score").num(top).key("title").str(item.title).close()
	items := catalog[persona]
	alts := r.intIn(2, 3)
	score := top
	start := r.IntN(len(items))
	for k := 0; k < len(items) && alts > 0; k++ {
		o := items[(start+k)%len(items)]
		if o.id == item.id {
			continue
		}
		alts--
		score = round2(score - r.between(0.02, 0.15))
		j.open().key("content_id").str(o.id).key("match_reason").str("also fits the " + label + " persona; ranked below the chosen item").
			key("relevance_score").num(math.Max(score, 0.05)).key("title").str(o.title).close()
	}
	t.matches = j.end().String()

	pi := personaIndex(persona)
	if u.traceSig[pi] == "" {
		u.traceSig[pi] = traceSignalsJSON(j, pi, u.sig)
	}
	t.signals, t.assignment = u.traceSig[pi], u.assignJSON
	fit := u.persona.scores[pi]
	sig := round2(r.between(0.55, 0.95))
	rec := round2(r.between(0.6, 1))
	overall := round2(0.35*fit + 0.25*sig + 0.3*top + 0.1*rec)
	t.scores = j.reset().open().key("content_relevance").num(top).key("overall").num(overall).key("persona_fit").num(fit).
		key("recency").num(rec).key("signal_strength").num(sig).close().String()

	t.model = llmModels[weighted(r, llmWeights)].name
	t.temperature = pick(r, temperatures)
	t.tokens = r.intIn(380, 1450)
	return t
}

var llmWeights = func() []float64 {
	w := make([]float64, len(llmModels))
	for i, m := range llmModels {
		w[i] = m.weight
	}
	return w
}()

func personaIndex(p string) int {
	for i, n := range personaNames {
		if n == p {
			return i
		}
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
