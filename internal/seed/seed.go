// Package seed fills an empty database with deterministic synthetic data:
// users with signals for both windows, personas and persona history, and
// recommendations in a realistic review state, each with its decision trace,
// its audit history, its flags and its delivery. The same Seed and Now give
// the same rows, byte for byte.
//
// It is built for volume: one generator goroutine draws rows from a single
// PCG source while one writer streams them into the database in chunks
// (multi-row INSERTs on SQLite, COPY on PostgreSQL), so memory stays flat
// however many recommendations are asked for. Everything goes in one
// transaction; the seeded tables' secondary indexes (and, on PostgreSQL,
// foreign keys) are dropped inside it and rebuilt before it commits.
//
// Ids: users user_000001…, recommendations rec_000000001… (in created_at
// order); audit, flag, trace and history ids are UUIDv7-shaped, carrying the
// event's millisecond and a per-run counter, so they are unique and sort in
// time like the server's own. Operators op_001…op_006 review; op_007 and
// op_008 act as senior operators (flag resolutions, guardrail overrides).
package seed

import (
	"context"
	"io"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Defaults the command line offers.
const (
	DefaultUsers           = 1_000
	DefaultRecommendations = 10_000
)

// Options say how much to generate and from what.
type Options struct {
	// Users and Recommendations to create; zero means the default. Users
	// get about Recommendations/Users recommendations each, at random.
	Users, Recommendations int
	// Seed fixes the data: the same Seed and Now give the same rows.
	Seed int64
	// Progress, when not nil, receives a progress bar.
	Progress io.Writer
	// Now anchors every generated time (all of them at or before it). Zero
	// means time.Now() truncated to the day, in UTC, so that runs on the
	// same day agree.
	Now time.Time
}

// Summary counts what Generate wrote.
type Summary struct {
	Users           int
	UserSignals     int
	UserPersonas    int
	PersonaHistory  int
	Recommendations int
	DecisionTraces  int
	AuditLogs       int
	Flags           int
	Deliveries      int

	ByStatus          map[string]int // recommendations by status
	ByAction          map[string]int // audit rows by action
	ByDelivery        map[string]int // deliveries by status
	OpenFlags         int            // unresolved flags (one per flagged recommendation)
	GuardrailFailures int            // recommendations failing at least one guardrail

	Now     time.Time     // the anchor used
	Elapsed time.Duration // wall time of Generate
}

// Rows is the total number of rows written.
func (s Summary) Rows() int {
	return s.Users + s.UserSignals + s.UserPersonas + s.PersonaHistory + s.Recommendations +
		s.DecisionTraces + s.AuditLogs + s.Flags + s.Deliveries
}

// notEmptyMessage is the EConflict error's text when the database already
// holds recommendations.
const notEmptyMessage = "database already has recommendations; seed only an empty database"

// Generate writes synthetic data into s, which must hold no recommendations
// and no users (else an EConflict error), in one transaction: it all
// commits or none of it does. Seed a database no one else is using: the
// seeded tables are locked for the duration, and on SQLite, if no other
// connection is open (idle read connections are closed for the check), the
// journal is switched from WAL to a rollback journal and back, which halves
// the bytes written. Queued deliveries get no River job here: the caller
// gives them one (store.RequeueDeliveryGaps), as `spendsense seed` does.
func Generate(ctx context.Context, s *store.Store, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Users == 0 {
		opts.Users = DefaultUsers
	}
	if opts.Recommendations == 0 {
		opts.Recommendations = DefaultRecommendations
	}
	if opts.Users < 0 || opts.Recommendations < 0 {
		return Summary{}, review.Errorf(review.EInvalid, "users and recommendations must not be negative")
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	opts.Now = opts.Now.UTC().Truncate(time.Microsecond)

	g := newGenerator(opts, s.Engine == store.Postgres)

	var bar *progressLine
	if opts.Progress != nil {
		bar = newProgressLine(opts.Progress)
		bar.start("users", int64(opts.Users))
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *chunk, 4)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		defer close(chunks)
		g.run(ctx, chunks)
	}()

	progress := func(c *chunk) { // called once the writer is done with c
		if bar != nil {
			if c.users > 0 {
				bar.add(c.users)
			}
			if c.recs > 0 {
				if bar.phase != "recommendations" {
					bar.start("recommendations", int64(opts.Recommendations))
				}
				bar.add(c.recs)
			}
		}
		g.recycle(c)
	}
	var err error
	if s.Engine == store.Postgres {
		err = writePostgres(ctx, s, chunks, progress)
	} else {
		err = writeSQLite(ctx, s, chunks, progress)
	}
	cancel()
	for range chunks { // let the generator finish if the writer stopped early
	}
	<-genDone
	if err != nil {
		return Summary{}, err
	}
	// The audit history went in as plain rows; link it into the hash
	// chains like any other history (docs/RELIABILITY.md).
	if _, err := s.ChainUnchainedAudit(parent); err != nil {
		return Summary{}, err
	}
	if bar != nil {
		bar.finish()
	}
	sum := g.sum
	sum.Now = opts.Now
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// notEmptyErr refuses a database that already has recommendations or users.
func notEmptyErr(recs, users int) error {
	if recs > 0 {
		return review.Errorf(review.EConflict, notEmptyMessage)
	}
	if users > 0 {
		return review.Errorf(review.EConflict, "database already has users; seed only an empty database")
	}
	return nil
}

const emptyCheck = `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM recommendations LIMIT 1) r), (SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) u)`

// Tables, in the order their rows must be written (foreign keys).
const (
	tUsers = iota
	tSignals
	tPersonas
	tHistory
	tRecs
	tTraces
	tFlags
	tAudit
	tDeliveries
	nTables
)

type table struct {
	name string
	cols []string
}

var tables = [nTables]table{
	tUsers:    {"users", []string{"user_id", "name", "created_at", "updated_at"}},
	tSignals:  {"user_signals", []string{"user_id", "window_type", "computed_at", "signals_json"}},
	tPersonas: {"user_personas", []string{"user_id", "window_type", "persona_primary", "persona_secondary", "match_strength", "assigned_at"}},
	tHistory: {"persona_history", []string{"history_id", "user_id", "window_type", "persona_primary", "persona_secondary",
		"match_strength", "recorded_at"}},
	tRecs: {"recommendations", []string{"recommendation_id", "user_id", "persona_primary", "persona_secondary", "type", "title",
		"rationale", "priority", "status", "content_url", "read_time_minutes",
		"tone_check", "advice_check", "eligibility_check", "guardrails_passed",
		"approved_by", "approved_at", "rejected_by", "rejected_at", "modified_by", "modified_at", "operator_notes",
		"generated_at", "created_at", "updated_at", "version", "content_hash"}},
	tTraces: {"decision_traces", []string{"trace_id", "recommendation_id", "signals_detected_at", "persona_assigned_at",
		"content_matched_at", "rationale_generated_at", "guardrails_checked_at", "signals_json", "persona_assignment_json",
		"content_matches_json", "relevance_scores_json", "llm_model", "temperature", "tokens_used", "created_at"}},
	tFlags: {"recommendation_flags", []string{"flag_id", "recommendation_id", "flagged_by", "flag_reason", "resolved",
		"resolved_by", "resolved_at", "resolution", "resolution_notes", "flagged_at"}},
	tAudit: {"operator_audit_log", []string{"audit_id", "operator_id", "action", "recommendation_id", "metadata", "timestamp"}},
	tDeliveries: {"deliveries", []string{"recommendation_id", "status", "attempts", "last_error", "queued_at",
		"delivered_at", "failed_at", "updated_at"}},
}

const flagCols = 10

// chunk is a slice of the data set: every table's rows, flattened (row k of
// table t is v[t][k*w:(k+1)*w] for w = len(tables[t].cols)).
type chunk struct {
	v     [nTables][]any
	users int // users generated in this chunk, for progress
	recs  int // recommendations generated in this chunk
}

const (
	usersPerChunk = 2_000
	recsPerChunk  = 2_000
)

type generator struct {
	free  chan *chunk // chunks the writer is done with, for reuse
	r     *rng
	now   time.Time
	pg    bool
	opts  Options
	j     jw
	users []user
	hash  hasher
	sum   Summary
}

func newGenerator(opts Options, pg bool) *generator {
	return &generator{
		free: make(chan *chunk, 8),
		r:    newRNG(opts.Seed), now: opts.Now, pg: pg, opts: opts,
		sum: Summary{
			ByStatus:   map[string]int{"pending": 0, "approved": 0, "rejected": 0, "flagged": 0},
			ByAction:   map[string]int{},
			ByDelivery: map[string]int{},
		},
	}
}

// ts converts a time for binding: fixed-width text on SQLite, time.Time on
// PostgreSQL (the store's convention).
func (g *generator) ts(t time.Time) any {
	if g.pg {
		return t.UTC()
	}
	return store.SQLiteTime(t)
}

// run generates every chunk in order and sends it, stopping early if ctx ends.
func (g *generator) run(ctx context.Context, out chan<- *chunk) {
	send := func(c *chunk) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	g.users = make([]user, 0, g.opts.Users)
	for i := 0; i < g.opts.Users; {
		c := g.chunk()
		for ; i < g.opts.Users && c.users < usersPerChunk; i++ {
			g.user(c, i)
			c.users++
		}
		if !send(c) {
			return
		}
	}
	n := g.opts.Recommendations
	for i := 0; i < n; {
		c := g.chunk()
		for ; i < n && c.recs < recsPerChunk; i++ {
			g.rec(c, i, n)
			c.recs++
		}
		if !send(c) {
			return
		}
	}
}

// chunk returns an empty chunk, reusing one the writer is done with.
func (g *generator) chunk() *chunk {
	select {
	case c := <-g.free:
		return c
	default:
	}
	c := &chunk{}
	// Room for a typical chunk, so rows are not copied as the slices grow.
	per := [nTables]int{tUsers: 1, tSignals: 2, tPersonas: 2, tHistory: 4, tRecs: 1, tTraces: 1, tFlags: 1, tAudit: 1, tDeliveries: 1}
	for t := range nTables {
		c.v[t] = make([]any, 0, max(usersPerChunk, recsPerChunk)*per[t]*len(tables[t].cols))
	}
	return c
}

// recycle returns c for reuse once the writer is done with it.
func (g *generator) recycle(c *chunk) {
	for t := range c.v {
		clear(c.v[t])
		c.v[t] = c.v[t][:0]
	}
	c.users, c.recs = 0, 0
	select {
	case g.free <- c:
	default:
	}
}

// user generates user i: the profile, both windows' signals and personas,
// and the persona history.
func (g *generator) user(c *chunk, i int) {
	r := g.r
	now := g.now
	id := counterID("user_", i+1, 6)
	name := pick(r, firstNames) + " " + pick(r, lastNames)
	created := now.Add(-r.dur(200*24*time.Hour, 900*24*time.Hour)).Truncate(time.Microsecond)
	computed := now.Add(-r.dur(time.Hour, 30*time.Hour)).Truncate(time.Microsecond)

	arch := weighted(r, archetypeWeights[:])
	s30 := genSignals(r, arch)
	s180 := drift180(r, s30)
	m30, m180 := assign(s30), assign(s180)

	c.v[tUsers] = append(c.v[tUsers], id, name, g.ts(created), g.ts(computed))
	g.sum.Users++

	u := user{id: id, idv: id, sig: s30, persona: m30, persona180: m180}
	c.v[tSignals] = append(c.v[tSignals], id, "30d", g.ts(computed), signalsJSON(&g.j, s30), id, "180d", g.ts(computed), signalsJSON(&g.j, s180))
	g.sum.UserSignals += 2
	u.assignJSON = assignmentJSON(&g.j, m30, s30)

	for _, w := range []struct {
		name string
		m    personaMatch
	}{{"30d", m30}, {"180d", m180}} {
		assigned := g.personaHistory(c, id, w.name, w.m, computed)
		c.v[tPersonas] = append(c.v[tPersonas], id, w.name, w.m.primary, nullable(w.m.secondary), w.m.strength, g.ts(assigned))
		g.sum.UserPersonas++
	}
	g.users = append(g.users, u)
}

// personaHistory writes 1–4 entries for a window over the past 180 days,
// each a change from the one before, ending with the current persona, and
// returns when the current persona was assigned.
func (g *generator) personaHistory(c *chunk, userID, window string, m personaMatch, computed time.Time) time.Time {
	r := g.r
	n := 1 + weighted(r, []float64{0.4, 0.3, 0.2, 0.1})
	from := g.now.Add(-180 * 24 * time.Hour)
	span := computed.Sub(from)
	at := make([]time.Time, n)
	for k := range at {
		at[k] = from.Add(time.Duration(r.Float64() * float64(span))).Truncate(time.Microsecond)
	}
	sortTimes(at)
	for k := 1; k < n; k++ {
		if !at[k].After(at[k-1]) {
			at[k] = at[k-1].Add(time.Microsecond)
		}
	}
	type entry struct {
		primary, secondary string
		strength           float64
	}
	hist := make([]entry, n)
	hist[n-1] = entry{m.primary, m.secondary, m.strength}
	order := rank(m.scores)
	for k := n - 2; k >= 0; k-- {
		next := hist[k+1].primary
		p := next
		for p == next {
			p = personaNames[order[r.IntN(3)]]
		}
		var sec string
		if r.chance(0.4) {
			sec = next
		}
		hist[k] = entry{p, sec, round2(r.between(0.5, 0.88))}
	}
	for k, e := range hist {
		c.v[tHistory] = append(c.v[tHistory], r.uuid7(at[k]), userID, window, e.primary, nullable(e.secondary), e.strength, g.ts(at[k]))
		g.sum.PersonaHistory++
	}
	return at[n-1]
}

func sortTimes(t []time.Time) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Before(t[j-1]); j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
