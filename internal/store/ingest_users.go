package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

type windowKey struct{ user, window string }

// windowState is what is known of one user's window: as stored, then as
// the batch moves it forward.
type windowState struct {
	sigAt, personaAt *time.Time      // newest known, stored or from the batch
	persona          *review.Persona // current persona, stored or from the batch
	sigDirty         bool            // the batch has newer signals: write signals
	personaDirty     bool            // the batch has a newer persona: write persona
	signals          *review.Signals // what to write when sigDirty
	sigTime, perTime time.Time       // storage for sigAt/personaAt from the batch
}

type historyRow struct {
	key     windowKey
	persona review.Persona
	at      time.Time
}

// IngestUsers upserts users with their newest signals and current personas
// per window, in one transaction. review.Signals and personas dated before what is
// stored are ignored (never overwrite newer with older). A window's first
// persona, and every later change of its primary or secondary persona, is
// appended to persona_history, dated computed_at. A user may appear more
// than once in a batch; items are applied in computed_at order.
func (s *Store) IngestUsers(ctx context.Context, users []review.IngestUser) (review.IngestUsersResult, error) {
	var res review.IngestUsersResult
	if len(users) > MaxIngestBatch {
		return res, review.Errorf(review.EInvalid, "at most %d users per request", MaxIngestBatch)
	}
	if len(users) == 0 {
		return res, nil
	}
	items := slices.Clone(users) // validation normalises; leave the caller's alone
	now := s.Now()
	for i := range items {
		if err := items[i].Validate(fmt.Sprintf("users[%d]", i), now); err != nil {
			return res, err
		}
	}
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		res = review.IngestUsersResult{}
		order := make([]*review.IngestUser, len(items))
		for i := range items {
			order[i] = &items[i]
		}
		slices.SortStableFunc(order, func(a, b *review.IngestUser) int { return a.At(tx.Now).Compare(b.At(tx.Now)) })
		// Profiles first: on PostgreSQL the upsert locks each user's row,
		// so concurrent ingests of one user queue here and each then reads
		// the other's committed personas below.
		ids, err := tx.upsertUsers(ctx, order)
		if err != nil {
			return err
		}
		res.Upserted = len(ids)
		state, err := tx.readWindowStates(ctx, ids)
		if err != nil {
			return err
		}
		history := advanceWindows(order, state, tx.Now)
		if err := tx.writeWindows(ctx, state, history); err != nil {
			return err
		}
		res.PersonaChanges = len(history)
		return tx.recordIdem(ctx, res) // the keyed response renders the result
	})
	if err != nil {
		return review.IngestUsersResult{}, err
	}
	return res, nil
}

// upsertUsers creates or updates the profiles of the users in order (the
// last name given wins; absent names leave the stored one) and returns
// their ids, sorted, so that concurrent ingests lock rows in one order.
func (tx *Tx) upsertUsers(ctx context.Context, order []*review.IngestUser) ([]string, error) {
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
	stamp := tx.s.ts(tx.Now)
	if _, err := insertMany(ctx, tx, `INSERT INTO users (user_id, name, created_at, updated_at) VALUES `, 4, len(ids),
		func(i int, args []any) []any { return append(args, ids[i], names[ids[i]], stamp, stamp) },
		` ON CONFLICT (user_id) DO UPDATE SET name = COALESCE(excluded.name, users.name), updated_at = excluded.updated_at`); err != nil {
		return nil, fmt.Errorf("upsert users: %w", err)
	}
	return ids, nil
}

// advanceWindows moves each user's windows forward through the batch, in
// computed_at order, never back past what state holds; it returns the
// persona changes to append to the history.
func advanceWindows(order []*review.IngestUser, state map[windowKey]*windowState, now time.Time) []historyRow {
	var history []historyRow
	apply := func(u *review.IngestUser, window string, sg *review.Signals, p *review.Persona) {
		if sg == nil && p == nil {
			return
		}
		k := windowKey{u.UserID, window}
		st := state[k]
		if st == nil {
			st = &windowState{}
			state[k] = st
		}
		t := u.At(now)
		if sg != nil && (st.sigAt == nil || !t.Before(*st.sigAt)) {
			st.signals, st.sigTime, st.sigDirty = sg, t, true
			st.sigAt = &st.sigTime
		}
		if p != nil && (st.personaAt == nil || !t.Before(*st.personaAt)) {
			if !st.persona.SameAs(p) {
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
	return history
}

// writeWindows stores the windows the batch moved forward (their signals
// and current personas, in key order) and appends history. Each upsert is
// conditional on being newer, so a concurrent ingest of older data loses.
func (tx *Tx) writeWindows(ctx context.Context, state map[windowKey]*windowState, history []historyRow) error {
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
			sg.Normalize()
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
	s := tx.s
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
	return nil
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
			var p review.Persona
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
