package store_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// FuzzParseCursor feeds ParseCursor arbitrary text (clients send cursors
// back, so they are hostile input). It must never panic; what it accepts
// must be a cursor Encode could have made: a valid id and a real time; and
// re-encoding what it accepts must parse back to the same cursor. The seed
// corpus is in testdata/fuzz/FuzzParseCursor.
func FuzzParseCursor(f *testing.F) {
	good := store.Cursor{CreatedAt: time.Date(2026, 11, 1, 12, 30, 0, 123456000, time.UTC), ID: "rec_000123"}.Encode()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add("")
	f.Add("garbage")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","id":"' OR 1=1 --"}`)))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","id":"a","x":1}`)))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"t":"0001-01-01T00:00:00Z","id":"a"}`)))
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","id":"a"}`)))
	f.Add(strings.Repeat("A", 600))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := store.ParseCursor(s)
		if err != nil {
			if c != nil {
				t.Fatalf("ParseCursor(%q) returned a cursor and an error", s)
			}
			if review.ErrorCode(err) != review.EInvalid {
				t.Fatalf("ParseCursor(%q): error %v is not EInvalid", s, err)
			}
			return
		}
		if !review.ValidID(c.ID) || c.CreatedAt.IsZero() {
			t.Fatalf("ParseCursor(%q) accepted %+v", s, c)
		}
		if len(s) > 512 {
			t.Fatalf("ParseCursor accepted %d characters", len(s))
		}
		again, err := store.ParseCursor(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded cursor %+v does not parse: %v", c, err)
		}
		if again.ID != c.ID || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("round trip: %+v → %+v", c, again)
		}
	})
}

// FuzzCursorRoundTrip: every cursor the store can make (a time in the
// range the engines keep, a valid id) survives Encode → ParseCursor
// unchanged, and its text is URL-safe.
func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(1793536200123456), "rec_000123")
	f.Add(int64(0), "a")
	f.Add(int64(-62135596800000000), "x")
	f.Add(int64(253402300799999999), strings.Repeat("z", 128))
	f.Add(int64(1), "0190f1f0-0000-7000-8000-000000000000")
	f.Fuzz(func(t *testing.T, micros int64, id string) {
		if !review.ValidID(id) {
			t.Skip()
		}
		at := time.UnixMicro(micros).UTC()
		if at.Year() < 1 || at.Year() > 9999 || at.IsZero() {
			t.Skip() // RFC 3339 has four-digit years; the zero time means "no cursor"
		}
		c := store.Cursor{CreatedAt: at, ID: id}
		s := c.Encode()
		if strings.ContainsAny(s, "+/=%&?# ") {
			t.Fatalf("cursor %q is not URL-safe", s)
		}
		got, err := store.ParseCursor(s)
		if err != nil {
			t.Fatalf("ParseCursor(Encode(%+v)) = %v", c, err)
		}
		if got.ID != id || !got.CreatedAt.Equal(at) {
			t.Fatalf("round trip: %+v → %+v", c, got)
		}
	})
}
