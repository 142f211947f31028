package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spendsense/operator-api/internal/review"
)

// MaxIngestBatch is the most items one ingest call accepts.
const MaxIngestBatch = 1000

// maxFutureSkew is how far ahead of the server's clock an engine's
// computed_at may be. Newer signals always win, so a computed_at far in the
// future would block every later update; this bounds the damage of a bad
// clock.
const maxFutureSkew = time.Hour

// inChunk is how many values one IN (...) list binds.
const inChunk = 900

// ---------------------------------------------------------------- users

// IngestUser is one user pushed by the recommendation engine: the profile,
// the signals and the personas per window. The 30-day window is required,
// the 180-day one optional.
type IngestUser struct {
	UserID     string         `json:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"user_0001"`
	Name       *string        `json:"name,omitempty" nullable:"true" minLength:"1" maxLength:"200" example:"Alex Morgan" doc:"Display name; left unchanged when absent"`
	ComputedAt *time.Time     `json:"computed_at,omitempty" nullable:"true" doc:"When the engine computed these signals and personas (default: now). Older data never replaces newer."`
	Signals    IngestSignals  `json:"signals"`
	Personas   IngestPersonas `json:"personas"`
}

// IngestSignals are a user's signals by window.
type IngestSignals struct {
	Days30  Signals  `json:"30d" doc:"Signals over the last 30 days (required)"`
	Days180 *Signals `json:"180d,omitempty" doc:"Signals over the last 180 days"`
}

// IngestPersonas are a user's personas by window.
type IngestPersonas struct {
	Days30  Persona  `json:"30d" doc:"Persona over the last 30 days (required)"`
	Days180 *Persona `json:"180d,omitempty" doc:"Persona over the last 180 days"`
}

// IngestUsersResult is the answer to a user ingest.
type IngestUsersResult struct {
	Upserted       int `json:"upserted" example:"250" doc:"Distinct users created or updated"`
	PersonaChanges int `json:"persona_changes" example:"12" doc:"Persona history entries appended (a window's first persona, or a change of its primary or secondary persona)"`
}

type windowKey struct{ user, window string }

// windowState is what is known of one user's window: as stored, then as
// the batch moves it forward.
type windowState struct {
	sigAt, personaAt *time.Time // newest known, stored or from the batch
	persona          *Persona   // current persona, stored or from the batch
	sigDirty         bool       // the batch has newer signals: write signals
	personaDirty     bool       // the batch has a newer persona: write persona
	signals          *Signals   // what to write when sigDirty
	sigTime, perTime time.Time  // storage for sigAt/personaAt from the batch
}

type historyRow struct {
	key     windowKey
	persona Persona
	at      time.Time
}

func (u *IngestUser) validate(i int, now time.Time) error {
	f := fmt.Sprintf("users[%d]", i)
	if !review.ValidID(u.UserID) {
		return review.Errorf(review.EInvalid, "%s.user_id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -", f)
	}
	if u.Name != nil && *u.Name == "" {
		u.Name = nil
	}
	if u.Name != nil && utf8.RuneCountInString(*u.Name) > 200 {
		return review.Errorf(review.EInvalid, "%s.name must be at most 200 characters", f)
	}
	if u.ComputedAt != nil {
		if u.ComputedAt.IsZero() {
			u.ComputedAt = nil
		} else {
			t := u.ComputedAt.UTC().Truncate(time.Microsecond)
			if t.After(now.Add(maxFutureSkew)) {
				return review.Errorf(review.EInvalid, "%s.computed_at is in the future", f)
			}
			u.ComputedAt = &t
		}
	}
	if err := u.Signals.Days30.validate(f + ".signals.30d"); err != nil {
		return err
	}
	if u.Signals.Days180 != nil {
		if err := u.Signals.Days180.validate(f + ".signals.180d"); err != nil {
			return err
		}
	}
	if err := u.Personas.Days30.validate(f + ".personas.30d"); err != nil {
		return err
	}
	if u.Personas.Days180 != nil {
		p := *u.Personas.Days180 // validate normalises; leave the caller's alone
		if err := p.validate(f + ".personas.180d"); err != nil {
			return err
		}
		u.Personas.Days180 = &p
	}
	return nil
}

// IngestUsers upserts users with their newest signals and current personas
// per window, in one transaction. Signals and personas dated before what is
// stored are ignored (never overwrite newer with older). A window's first
// persona, and every later change of its primary or secondary persona, is
// appended to persona_history, dated computed_at. A user may appear more
// than once in a batch; items are applied in computed_at order.
func (s *Store) IngestUsers(ctx context.Context, users []IngestUser) (IngestUsersResult, error) {
	var res IngestUsersResult
	if len(users) > MaxIngestBatch {
		return res, review.Errorf(review.EInvalid, "at most %d users per request", MaxIngestBatch)
	}
	if len(users) == 0 {
		return res, nil
	}
	items := slices.Clone(users) // validation normalises; leave the caller's alone
	now := s.Now()
	for i := range items {
		if err := items[i].validate(i, now); err != nil {
			return res, err
		}
	}
	err := s.WithLargeTx(ctx, func(tx *Tx) error {
		res = IngestUsersResult{}
		at := func(u *IngestUser) time.Time {
			if u.ComputedAt != nil {
				return *u.ComputedAt
			}
			return tx.Now
		}
		order := make([]*IngestUser, len(items))
		for i := range items {
			order[i] = &items[i]
		}
		slices.SortStableFunc(order, func(a, b *IngestUser) int { return at(a).Compare(at(b)) })

		// Profiles first: on PostgreSQL the upsert locks each user's row,
		// so concurrent ingests of one user queue here and each then reads
		// the other's committed personas below. Sorted ids lock in one order.
		names := map[string]*string{}
		for _, u := range order {
			if _, ok := names[u.UserID]; !ok || u.Name != nil {
				names[u.UserID] = u.Name
			}
		}
		ids := make([]string, 0, len(names))
		for id := range names {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		stamp := s.ts(tx.Now)
		if _, err := insertMany(ctx, tx, `INSERT INTO users (user_id, name, created_at, updated_at) VALUES `, 4, len(ids),
			func(i int, args []any) []any { return append(args, ids[i], names[ids[i]], stamp, stamp) },
			` ON CONFLICT (user_id) DO UPDATE SET name = COALESCE(excluded.name, users.name), updated_at = excluded.updated_at`); err != nil {
			return fmt.Errorf("upsert users: %w", err)
		}
		res.Upserted = len(ids)

		state, err := tx.readWindowStates(ctx, ids)
		if err != nil {
			return err
		}
		var history []historyRow
		apply := func(u *IngestUser, window string, sg *Signals, p *Persona) {
			if sg == nil && p == nil {
				return
			}
			k := windowKey{u.UserID, window}
			st := state[k]
			if st == nil {
				st = &windowState{}
				state[k] = st
			}
			t := at(u)
			if sg != nil && (st.sigAt == nil || !t.Before(*st.sigAt)) {
				st.signals, st.sigTime, st.sigDirty = sg, t, true
				st.sigAt = &st.sigTime
			}
			if p != nil && (st.personaAt == nil || !t.Before(*st.personaAt)) {
				if !st.persona.sameAs(p) {
					history = append(history, historyRow{k, *p, t})
				}
				st.persona, st.perTime, st.personaDirty = p, t, true
				st.personaAt = &st.perTime
			}
		}
		for _, u := range order {
			apply(u, "30d", &u.Signals.Days30, &u.Personas.Days30)
			apply(u, "180d", u.Signals.Days180, u.Personas.Days180)
		}

		keys := make([]windowKey, 0, len(state))
		for k := range state {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b windowKey) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.window, b.window)) })

		type sigRow struct {
			k   windowKey
			at  time.Time
			doc []byte
		}
		var sigRows []sigRow
		var personaRows []historyRow
		for _, k := range keys {
			st := state[k]
			if st.sigDirty {
				sg := *st.signals
				sg.normalize()
				doc, err := json.Marshal(sg)
				if err != nil {
					return err
				}
				sigRows = append(sigRows, sigRow{k, st.sigTime, doc})
			}
			if st.personaDirty {
				personaRows = append(personaRows, historyRow{k, *st.persona, st.perTime})
			}
		}
		if _, err := insertMany(ctx, tx, `INSERT INTO user_signals (user_id, window_type, computed_at, signals_json) VALUES `, 4, len(sigRows),
			func(i int, args []any) []any {
				r := sigRows[i]
				return append(args, r.k.user, r.k.window, s.ts(r.at), jsonText(r.doc))
			},
			` ON CONFLICT (user_id, window_type) DO UPDATE SET computed_at = excluded.computed_at, signals_json = excluded.signals_json
WHERE user_signals.computed_at <= excluded.computed_at`); err != nil {
			return fmt.Errorf("store signals: %w", err)
		}
		if _, err := insertMany(ctx, tx, `INSERT INTO user_personas (user_id, window_type, persona_primary, persona_secondary, match_strength, assigned_at) VALUES `, 6, len(personaRows),
			func(i int, args []any) []any {
				r := personaRows[i]
				return append(args, r.key.user, r.key.window, r.persona.Primary, r.persona.Secondary, r.persona.MatchStrength, s.ts(r.at))
			},
			` ON CONFLICT (user_id, window_type) DO UPDATE SET persona_primary = excluded.persona_primary,
 persona_secondary = excluded.persona_secondary, match_strength = excluded.match_strength, assigned_at = excluded.assigned_at
WHERE user_personas.assigned_at <= excluded.assigned_at`); err != nil {
			return fmt.Errorf("store personas: %w", err)
		}
		if _, err := insertMany(ctx, tx, `INSERT INTO persona_history (history_id, user_id, window_type, persona_primary, persona_secondary, match_strength, recorded_at) VALUES `, 7, len(history),
			func(i int, args []any) []any {
				r := history[i]
				return append(args, NewID(), r.key.user, r.key.window, r.persona.Primary, r.persona.Secondary, r.persona.MatchStrength, s.ts(r.at))
			}, ""); err != nil {
			return fmt.Errorf("append persona history: %w", err)
		}
		res.PersonaChanges = len(history)
		return nil
	})
	if err != nil {
		return IngestUsersResult{}, err
	}
	return res, nil
}

// readWindowStates reads the stored signal times and current personas of
// users.
func (tx *Tx) readWindowStates(ctx context.Context, users []string) (map[windowKey]*windowState, error) {
	state := map[windowKey]*windowState{}
	get := func(k windowKey) *windowState {
		st := state[k]
		if st == nil {
			st = &windowState{}
			state[k] = st
		}
		return st
	}
	for chunk := range slices.Chunk(users, inChunk) {
		in, args := inList(chunk)
		rows, err := tx.Query(ctx, `SELECT user_id, window_type, computed_at FROM user_signals WHERE user_id IN `+in, args...)
		if err != nil {
			return nil, fmt.Errorf("read signals: %w", err)
		}
		for rows.Next() {
			var k windowKey
			var at Time
			if err := rows.Scan(&k.user, &k.window, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read signals: %w", err)
			}
			get(k).sigAt = &at.Time
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read signals: %w", err)
		}

		rows, err = tx.Query(ctx, `SELECT user_id, window_type, persona_primary, persona_secondary, match_strength, assigned_at
FROM user_personas WHERE user_id IN `+in, args...)
		if err != nil {
			return nil, fmt.Errorf("read personas: %w", err)
		}
		for rows.Next() {
			var k windowKey
			var p Persona
			var secondary sql.NullString
			var at Time
			if err := rows.Scan(&k.user, &k.window, &p.Primary, &secondary, &p.MatchStrength, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read personas: %w", err)
			}
			p.Secondary = strPtr(secondary)
			st := get(k)
			st.persona, st.personaAt = &p, &at.Time
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read personas: %w", err)
		}
	}
	return state, nil
}

// ------------------------------------------------------- recommendations

// IngestRecommendation is one recommendation pushed by the engine.
type IngestRecommendation struct {
	ID               string            `json:"id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"rec_000123" doc:"The engine's id for the recommendation"`
	UserID           string            `json:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]{1,128}$" example:"user_0001" doc:"An already ingested user"`
	PersonaPrimary   string            `json:"persona_primary" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"high_utilization"`
	PersonaSecondary *string           `json:"persona_secondary,omitempty" nullable:"true" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student" example:"subscription_heavy"`
	Type             string            `json:"type" enum:"article,video,tool,quiz,partner_offer" example:"article"`
	Title            string            `json:"title" minLength:"1" maxLength:"200" example:"Understanding credit utilization"`
	Rationale        string            `json:"rationale" minLength:"1" maxLength:"5000" example:"Your card utilization is 68%, above the 30% that scoring models favour."`
	Priority         string            `json:"priority" enum:"high,medium,low" example:"high"`
	ContentURL       *string           `json:"content_url,omitempty" nullable:"true" maxLength:"2048" example:"https://learn.example.com/credit-utilization"`
	ReadTimeMinutes  *int              `json:"read_time_minutes,omitempty" nullable:"true" minimum:"0" maximum:"1440" example:"5"`
	GuardrailsPassed review.Guardrails `json:"guardrails_passed" doc:"Results of the engine's three guardrail checks"`
	GeneratedAt      time.Time         `json:"generated_at" doc:"When the engine generated the recommendation"`
	Trace            *IngestTrace      `json:"trace,omitempty" doc:"The decision trace; optional"`
}

// IngestTrace is the decision trace sent with a recommendation.
type IngestTrace struct {
	SignalsDetectedAt    time.Time       `json:"signals_detected_at"`
	PersonaAssignedAt    time.Time       `json:"persona_assigned_at"`
	ContentMatchedAt     time.Time       `json:"content_matched_at"`
	RationaleGeneratedAt time.Time       `json:"rationale_generated_at"`
	GuardrailsCheckedAt  time.Time       `json:"guardrails_checked_at"`
	Signals              json.RawMessage `json:"signals" doc:"Signals detected (any JSON document)"`
	PersonaAssignment    json.RawMessage `json:"persona_assignment" doc:"Persona assignment details (any JSON document)"`
	ContentMatches       json.RawMessage `json:"content_matches" doc:"Content matched (any JSON document)"`
	RelevanceScores      json.RawMessage `json:"relevance_scores" doc:"Relevance scores (any JSON document)"`
	LLMModel             string          `json:"llm_model" minLength:"1" maxLength:"200" example:"gpt-4o-mini"`
	Temperature          float64         `json:"temperature" minimum:"0" maximum:"2" example:"0.7"`
	TokensUsed           int             `json:"tokens_used" minimum:"0" example:"412"`
}

// IngestConflict is an item that was not stored, and why. Reasons start
// with a stable code (review.ReasonIDConflict, ReasonUnknownUser,
// ReasonDuplicate).
type IngestConflict struct {
	RecommendationID string `json:"recommendation_id" example:"rec_000123"`
	Reason           string `json:"reason" example:"id_conflict: recommendation \"rec_000123\" already exists with different content"`
}

// IngestRecsResult is the answer to a recommendation ingest.
type IngestRecsResult struct {
	Created   int              `json:"created" example:"998" doc:"New recommendations, now pending review"`
	Unchanged int              `json:"unchanged" example:"1" doc:"Identical replays of recommendations already stored"`
	Conflicts []IngestConflict `json:"conflicts" doc:"Items not stored"`
}

// errIngestRace means a concurrent ingest inserted one of our new ids
// between our read and our insert (PostgreSQL only); the batch is rerun.
var errIngestRace = errors.New("concurrent ingest of the same recommendation id")

// canonicalJSON re-serialises a JSON document in one canonical form: object
// keys sorted, no insignificant space, numbers as written.
func canonicalJSON(doc json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	if v == nil {
		return nil, errors.New("null")
	}
	return json.Marshal(v)
}

// normalized returns r in canonical form: times in UTC at the microsecond
// the database keeps, empty optional strings as absent, trace documents in
// canonical JSON.
func (r IngestRecommendation) normalized() (IngestRecommendation, error) {
	n := r
	emptyNil := func(p *string) *string {
		if p == nil || *p == "" {
			return nil
		}
		return p
	}
	n.PersonaSecondary, n.ContentURL = emptyNil(n.PersonaSecondary), emptyNil(n.ContentURL)
	n.GeneratedAt = n.GeneratedAt.UTC().Truncate(time.Microsecond)
	if r.Trace != nil {
		t := *r.Trace
		for _, ts := range []*time.Time{&t.SignalsDetectedAt, &t.PersonaAssignedAt, &t.ContentMatchedAt, &t.RationaleGeneratedAt, &t.GuardrailsCheckedAt} {
			*ts = ts.UTC().Truncate(time.Microsecond)
		}
		for _, d := range []struct {
			name string
			doc  *json.RawMessage
		}{{"signals", &t.Signals}, {"persona_assignment", &t.PersonaAssignment}, {"content_matches", &t.ContentMatches}, {"relevance_scores", &t.RelevanceScores}} {
			c, err := canonicalJSON(*d.doc)
			if err != nil {
				return n, review.Errorf(review.EInvalid, "trace.%s must be a JSON document (not null)", d.name)
			}
			*d.doc = c
		}
		n.Trace = &t
	}
	return n, nil
}

// ContentHash is the hex SHA-256 of r's canonical JSON. Ingest stores it in
// recommendations.content_hash to tell identical replays from conflicting
// reuse of an id; anything else writing recommendations (the seeder) should
// store it too.
func (r IngestRecommendation) ContentHash() (string, error) {
	n, err := r.normalized()
	if err != nil {
		return "", err
	}
	return n.digest()
}

// digest hashes an already normalised item.
func (r IngestRecommendation) digest() (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("spendsense.recommendation.v1\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// preparedRec is a validated, normalised ingest item.
type preparedRec struct {
	IngestRecommendation
	hash string
}

func prepareRec(r IngestRecommendation, i int) (preparedRec, error) {
	f := fmt.Sprintf("recommendations[%d]", i)
	bad := func(field, format string, args ...any) error {
		return review.Errorf(review.EInvalid, "%s.%s %s", f, field, fmt.Sprintf(format, args...))
	}
	n, err := r.normalized()
	if err != nil {
		var e *review.Error
		if errors.As(err, &e) {
			return preparedRec{}, review.Errorf(review.EInvalid, "%s.%s", f, e.Message)
		}
		return preparedRec{}, err
	}
	lenOK := func(s string, max int) bool {
		return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max
	}
	switch {
	case !review.ValidID(n.ID):
		return preparedRec{}, bad("id", "must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
	case !review.ValidID(n.UserID):
		return preparedRec{}, bad("user_id", "must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
	case !slices.Contains(review.Personas, n.PersonaPrimary):
		return preparedRec{}, bad("persona_primary", "must be one of %v", review.Personas)
	case n.PersonaSecondary != nil && !slices.Contains(review.Personas, *n.PersonaSecondary):
		return preparedRec{}, bad("persona_secondary", "must be null or one of %v", review.Personas)
	case !slices.Contains(review.Types, n.Type):
		return preparedRec{}, bad("type", "must be one of %v", review.Types)
	case !lenOK(n.Title, 200):
		return preparedRec{}, bad("title", "must be 1 to 200 characters")
	case !lenOK(n.Rationale, 5000):
		return preparedRec{}, bad("rationale", "must be 1 to 5000 characters")
	case review.CheckText(n.Title, review.ShortText) != "":
		return preparedRec{}, bad("title", "%s", review.CheckText(n.Title, review.ShortText))
	case review.CheckText(n.Rationale, review.LongText) != "":
		return preparedRec{}, bad("rationale", "%s", review.CheckText(n.Rationale, review.LongText))
	case !slices.Contains(review.Priorities, n.Priority):
		return preparedRec{}, bad("priority", "must be one of %v", review.Priorities)
	case n.ContentURL != nil && utf8.RuneCountInString(*n.ContentURL) > 2048:
		return preparedRec{}, bad("content_url", "must be at most 2048 characters")
	case n.ReadTimeMinutes != nil && (*n.ReadTimeMinutes < 0 || *n.ReadTimeMinutes > 1440):
		return preparedRec{}, bad("read_time_minutes", "must be between 0 and 1440")
	case n.GeneratedAt.IsZero():
		return preparedRec{}, bad("generated_at", "is required")
	}
	if t := n.Trace; t != nil {
		for _, ts := range []struct {
			name string
			t    time.Time
		}{{"signals_detected_at", t.SignalsDetectedAt}, {"persona_assigned_at", t.PersonaAssignedAt},
			{"content_matched_at", t.ContentMatchedAt}, {"rationale_generated_at", t.RationaleGeneratedAt},
			{"guardrails_checked_at", t.GuardrailsCheckedAt}} {
			if ts.t.IsZero() {
				return preparedRec{}, bad("trace."+ts.name, "is required")
			}
		}
		switch {
		case !lenOK(t.LLMModel, 200):
			return preparedRec{}, bad("trace.llm_model", "must be 1 to 200 characters")
		case !(t.Temperature >= 0 && t.Temperature <= 2):
			return preparedRec{}, bad("trace.temperature", "must be between 0 and 2")
		case t.TokensUsed < 0:
			return preparedRec{}, bad("trace.tokens_used", "must not be negative")
		}
		if err := CheckTraceShape(t); err != nil {
			return preparedRec{}, review.Errorf(review.EInvalid, "%s.%s", f, err.Error())
		}
	}
	h, err := n.digest()
	if err != nil {
		return preparedRec{}, err
	}
	return preparedRec{n, h}, nil
}

// IngestRecommendations stores new recommendations (pending review) and
// their traces in one transaction. It is idempotent by id: an identical
// replay is unchanged, different content under a known id is a conflict and
// never overwrites; an unknown user, or an id repeated within the batch (the
// later occurrences), is a conflict too. Conflicts are listed in batch
// order. An invalid item fails the whole batch.
func (s *Store) IngestRecommendations(ctx context.Context, recs []IngestRecommendation) (IngestRecsResult, error) {
	if len(recs) > MaxIngestBatch {
		return IngestRecsResult{Conflicts: []IngestConflict{}}, review.Errorf(review.EInvalid, "at most %d recommendations per request", MaxIngestBatch)
	}
	items := make([]preparedRec, len(recs))
	for i := range recs {
		p, err := prepareRec(recs[i], i)
		if err != nil {
			return IngestRecsResult{Conflicts: []IngestConflict{}}, err
		}
		items[i] = p
	}
	for attempt := 1; ; attempt++ {
		res, err := s.ingestRecs(ctx, items)
		if errors.Is(err, errIngestRace) && attempt < 5 {
			continue
		}
		if err != nil {
			return IngestRecsResult{Conflicts: []IngestConflict{}}, err
		}
		return res, nil
	}
}

func (s *Store) ingestRecs(ctx context.Context, items []preparedRec) (IngestRecsResult, error) {
	res := IngestRecsResult{Conflicts: []IngestConflict{}}
	if len(items) == 0 {
		return res, nil
	}
	err := s.WithLargeTx(ctx, func(tx *Tx) error {
		res = IngestRecsResult{Conflicts: []IngestConflict{}}
		type conflict struct {
			i int
			c IngestConflict
		}
		var conflicts []conflict
		reject := func(i int, code, format string, args ...any) {
			conflicts = append(conflicts, conflict{i, IngestConflict{items[i].ID, code + ": " + fmt.Sprintf(format, args...)}})
		}

		// First occurrence of each id; later ones are duplicates.
		first := make(map[string]int, len(items))
		var cand []int
		for i := range items {
			if _, dup := first[items[i].ID]; dup {
				reject(i, review.ReasonDuplicate, "recommendation %q appears more than once in this request", items[i].ID)
				continue
			}
			first[items[i].ID] = i
			cand = append(cand, i)
		}

		// Ids already stored: unchanged when identical, else a conflict.
		ids := make([]string, len(cand))
		for j, i := range cand {
			ids[j] = items[i].ID
		}
		stored := make(map[string]string)
		for chunk := range slices.Chunk(ids, inChunk) {
			in, args := inList(chunk)
			if err := tx.scanPairs(ctx, `SELECT recommendation_id, content_hash FROM recommendations WHERE recommendation_id IN `+in, args, stored); err != nil {
				return fmt.Errorf("read existing recommendations: %w", err)
			}
		}
		var fresh []int
		userSet := map[string]bool{}
		for _, i := range cand {
			h, ok := stored[items[i].ID]
			switch {
			case !ok:
				fresh = append(fresh, i)
				userSet[items[i].UserID] = true
			case h == items[i].hash:
				res.Unchanged++
			default:
				reject(i, review.ReasonIDConflict, "recommendation %q already exists with different content; it was not changed", items[i].ID)
			}
		}

		// Users they belong to must exist.
		users := make([]string, 0, len(userSet))
		for u := range userSet {
			users = append(users, u)
		}
		slices.Sort(users)
		known := make(map[string]string)
		for chunk := range slices.Chunk(users, inChunk) {
			in, args := inList(chunk)
			if err := tx.scanPairs(ctx, `SELECT user_id, user_id FROM users WHERE user_id IN `+in, args, known); err != nil {
				return fmt.Errorf("read users: %w", err)
			}
		}
		var ins []int
		for _, i := range fresh {
			if _, ok := known[items[i].UserID]; !ok {
				reject(i, review.ReasonUnknownUser, "user %q does not exist; ingest the user first", items[i].UserID)
				continue
			}
			ins = append(ins, i)
		}
		// Insert in id order: concurrent batches that share ids then lock
		// them in the same order on PostgreSQL and queue instead of deadlocking.
		slices.SortFunc(ins, func(a, b int) int { return cmp.Compare(items[a].ID, items[b].ID) })

		now := s.ts(tx.Now)
		n, err := insertMany(ctx, tx, `INSERT INTO recommendations (recommendation_id, user_id, persona_primary, persona_secondary, type,
 title, rationale, priority, status, content_url, read_time_minutes, tone_check, advice_check, eligibility_check,
 guardrails_passed, generated_at, created_at, updated_at, version, content_hash) VALUES `, 20, len(ins),
			func(j int, args []any) []any {
				r := &items[ins[j]]
				g := r.GuardrailsPassed
				return append(args, r.ID, r.UserID, r.PersonaPrimary, r.PersonaSecondary, r.Type,
					r.Title, r.Rationale, r.Priority, string(review.StatusPending), r.ContentURL, r.ReadTimeMinutes,
					g.ToneCheck, g.AdviceCheck, g.EligibilityCheck, g.All(), s.ts(r.GeneratedAt), now, now, 1, r.hash)
			}, ` ON CONFLICT (recommendation_id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert recommendations: %w", err)
		}
		if n != int64(len(ins)) {
			return errIngestRace
		}

		var traced []int
		for _, i := range ins {
			if items[i].Trace != nil {
				traced = append(traced, i)
			}
		}
		if _, err := insertMany(ctx, tx, `INSERT INTO decision_traces (trace_id, recommendation_id, signals_detected_at, persona_assigned_at,
 content_matched_at, rationale_generated_at, guardrails_checked_at, signals_json, persona_assignment_json,
 content_matches_json, relevance_scores_json, llm_model, temperature, tokens_used, created_at) VALUES `, 15, len(traced),
			func(j int, args []any) []any {
				r := &items[traced[j]]
				t := r.Trace
				return append(args, NewID(), r.ID, s.ts(t.SignalsDetectedAt), s.ts(t.PersonaAssignedAt),
					s.ts(t.ContentMatchedAt), s.ts(t.RationaleGeneratedAt), s.ts(t.GuardrailsCheckedAt),
					jsonText(t.Signals), jsonText(t.PersonaAssignment), jsonText(t.ContentMatches), jsonText(t.RelevanceScores),
					t.LLMModel, t.Temperature, t.TokensUsed, now)
			}, ""); err != nil {
			return fmt.Errorf("insert traces: %w", err)
		}

		res.Created = len(ins)
		slices.SortFunc(conflicts, func(a, b conflict) int { return cmp.Compare(a.i, b.i) })
		for _, c := range conflicts {
			res.Conflicts = append(res.Conflicts, c.c)
		}
		return nil
	})
	return res, err
}

// ---------------------------------------------------------------- helpers

// scanPairs runs a two-string-column query into m.
func (tx *Tx) scanPairs(ctx context.Context, query string, args []any, m map[string]string) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		m[k] = v
	}
	return rows.Err()
}
