package store

import (
	"testing"
	"time"
)

// TestSQLiteTime checks the hand-written formatter against time.Format,
// across the microsecond, zone and year edges.
func TestSQLiteTime(t *testing.T) {
	east := time.FixedZone("east", 14*3600)
	for _, tm := range []time.Time{
		{},
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 1, 0, 30, 0, 1500, east),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1764633600, 123456789),
	} {
		if got, want := SQLiteTime(tm), tm.UTC().Format(sqliteTimeLayout); got != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
}
