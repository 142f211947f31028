package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
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

// ingestRecs is one attempt at IngestRecommendations: errIngestRace when
// a concurrent batch inserted one of its new ids first.
func (s *Store) ingestRecs(ctx context.Context, items []preparedRec) (IngestRecsResult, error) {
	res := IngestRecsResult{Conflicts: []IngestConflict{}}
	if len(items) == 0 {
		return res, nil
	}
	err := s.WithLargeTx(ctx, func(tx *Tx) error {
		res = IngestRecsResult{Conflicts: []IngestConflict{}}
		t, err := tx.triageRecs(ctx, items)
		if err != nil {
			return err
		}
		if err := tx.insertRecs(ctx, items, t.insert); err != nil {
			return err
		}
		res.Created, res.Unchanged = len(t.insert), t.unchanged
		slices.SortFunc(t.conflicts, func(a, b numberedConflict) int { return cmp.Compare(a.i, b.i) })
		for _, c := range t.conflicts {
			res.Conflicts = append(res.Conflicts, c.c)
		}
		return tx.recordIdem(ctx, res)
	})
	return res, err
}

// numberedConflict is a conflict with the index of its item in the batch.
type numberedConflict struct {
	i int
	c IngestConflict
}

// recTriage sorts a batch: the items to insert (indexes, in id order), the
// number of identical replays, and the conflicts.
type recTriage struct {
	insert    []int
	unchanged int
	conflicts []numberedConflict
}

// triageRecs finds, in a batch, the ids repeated within it, the ids
// already stored (unchanged when identical, else a conflict) and the items
// of users that do not exist.
func (tx *Tx) triageRecs(ctx context.Context, items []preparedRec) (recTriage, error) {
	var t recTriage
	reject := func(i int, code, format string, args ...any) {
		t.conflicts = append(t.conflicts, numberedConflict{i, IngestConflict{items[i].ID, code + ": " + fmt.Sprintf(format, args...)}})
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

	ids := make([]string, len(cand))
	for j, i := range cand {
		ids[j] = items[i].ID
	}
	stored, err := tx.pairsIn(ctx, `SELECT recommendation_id, content_hash FROM recommendations WHERE recommendation_id IN `, ids)
	if err != nil {
		return t, fmt.Errorf("read existing recommendations: %w", err)
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
			t.unchanged++
		default:
			reject(i, review.ReasonIDConflict, "recommendation %q already exists with different content; it was not changed", items[i].ID)
		}
	}

	users := make([]string, 0, len(userSet))
	for u := range userSet {
		users = append(users, u)
	}
	slices.Sort(users)
	known, err := tx.pairsIn(ctx, `SELECT user_id, user_id FROM users WHERE user_id IN `, users)
	if err != nil {
		return t, fmt.Errorf("read users: %w", err)
	}
	for _, i := range fresh {
		if _, ok := known[items[i].UserID]; !ok {
			reject(i, review.ReasonUnknownUser, "user %q does not exist; ingest the user first", items[i].UserID)
			continue
		}
		t.insert = append(t.insert, i)
	}
	// Insert in id order: concurrent batches that share ids then lock
	// them in the same order on PostgreSQL and queue instead of deadlocking.
	slices.SortFunc(t.insert, func(a, b int) int { return cmp.Compare(items[a].ID, items[b].ID) })
	return t, nil
}

// insertRecs inserts items[ins] as pending, with their traces.
func (tx *Tx) insertRecs(ctx context.Context, items []preparedRec, ins []int) error {
	s := tx.s
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
	return nil
}
