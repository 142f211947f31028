package review

import (
	"time"
	"unicode/utf8"
)

// maxFutureSkew is how far ahead of the server's clock an engine's
// computed_at may be. Newer signals always win, so a computed_at far in the
// future would block every later update; this bounds the damage of a bad
// clock.
const maxFutureSkew = time.Hour

// IngestUser is one user pushed by the recommendation engine: the profile,
// the signals and the personas per window. The 30-day window is required,
// the 180-day one optional.
type IngestUser struct {
	UserID     string
	Name       *string    // nil leaves the stored name unchanged
	ComputedAt *time.Time // nil means now; older data never replaces newer
	Signals    IngestSignals
	Personas   IngestPersonas
}

// IngestSignals are a user's signals by window.
type IngestSignals struct {
	Days30  Signals
	Days180 *Signals
}

// IngestPersonas are a user's personas by window.
type IngestPersonas struct {
	Days30  Persona
	Days180 *Persona
}

// IngestUsersResult is what a user ingest did.
type IngestUsersResult struct {
	Upserted       int // distinct users created or updated
	PersonaChanges int // persona history entries appended
}

// At is when u's signals and personas were computed: now when it does
// not say.
func (u *IngestUser) At(now time.Time) time.Time {
	if u.ComputedAt != nil {
		return *u.ComputedAt
	}
	return now
}

// Validate checks u as the engine sent it at now, and normalises it in
// place: an empty name becomes absent, computed_at UTC at the microsecond
// the database keeps. field prefixes the names in messages. A 180-day
// persona is copied before it is normalised, so the caller's stays as it
// was.
func (u *IngestUser) Validate(field string, now time.Time) error {
	if !ValidID(u.UserID) {
		return Errorf(EInvalid, "%s.user_id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -", field)
	}
	if u.Name != nil && *u.Name == "" {
		u.Name = nil
	}
	if u.Name != nil && utf8.RuneCountInString(*u.Name) > 200 {
		return Errorf(EInvalid, "%s.name must be at most 200 characters", field)
	}
	if u.ComputedAt != nil {
		if u.ComputedAt.IsZero() {
			u.ComputedAt = nil
		} else {
			t := u.ComputedAt.UTC().Truncate(time.Microsecond)
			if t.After(now.Add(maxFutureSkew)) {
				return Errorf(EInvalid, "%s.computed_at is in the future", field)
			}
			u.ComputedAt = &t
		}
	}
	if err := u.Signals.Days30.Validate(field + ".signals.30d"); err != nil {
		return err
	}
	if u.Signals.Days180 != nil {
		if err := u.Signals.Days180.Validate(field + ".signals.180d"); err != nil {
			return err
		}
	}
	if err := u.Personas.Days30.Validate(field + ".personas.30d"); err != nil {
		return err
	}
	if u.Personas.Days180 != nil {
		p := *u.Personas.Days180
		if err := p.Validate(field + ".personas.180d"); err != nil {
			return err
		}
		u.Personas.Days180 = &p
	}
	return nil
}
