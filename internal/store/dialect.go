package store

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect is everything the two engines do differently. Keep it small: a
// query that needs more than these belongs in both migration sets instead.
type dialect interface {
	// rebind turns ? placeholders into the engine's own.
	rebind(query string) string
	// timeArg converts a time for binding.
	timeArg(t time.Time) any
	// forUpdate is the row-lock suffix for a SELECT inside a write transaction.
	forUpdate() string
	// unindexed is col in a form the planner will not use an index for, to
	// keep it from choosing a filter's index over a primary-key lookup.
	unindexed(col string) string
	// secondsBetween is an SQL expression for (b - a) in seconds.
	secondsBetween(a, b string) string
	// skipLocked is the suffix that lets concurrent claimers pass over rows
	// another transaction holds.
	skipLocked() string
	// jsonField is an SQL expression for the text of a top-level key of a
	// JSON column.
	jsonField(col, key string) string
	// bucket15 is an SQL expression for the start of the 15-minute UTC
	// interval holding a timestamp column, as decision_buckets keys it.
	bucket15(col string) string
	// utcDay is an SQL expression for midnight UTC of a timestamp column's
	// day, as audit_day_counts keys it.
	utcDay(col string) string
	// indexedBy makes a FROM use the named index (SQLite, which without
	// table statistics misjudges partial indexes); PostgreSQL plans itself.
	indexedBy(index string) string
	// epoch is an SQL expression for a timestamp column in whole Unix
	// seconds (an integer).
	epoch(col string) string
	// tableExists is a query counting the tables named ? (0 or 1) in the
	// schema the store uses.
	tableExists() string
}

// sqliteTimeLayout stores timestamps as fixed-width UTC text, so that text
// order is time order and indexes on them sort correctly.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// SQLiteTime is t in sqliteTimeLayout, the form SQLite columns keep (and
// the seed writes). It is written by hand because every timestamp bound on
// SQLite, and every one the seed generates, passes through it; time.Format
// does the years a fixed width cannot hold.
func SQLiteTime(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(sqliteTimeLayout)
	}
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	var b [27]byte
	put := func(i, v, w int) {
		for k := i + w - 1; k >= i; k-- {
			b[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(mo), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = 'T'
	put(11, h, 2)
	b[13] = ':'
	put(14, mi, 2)
	b[16] = ':'
	put(17, s, 2)
	b[19] = '.'
	put(20, us, 6)
	b[26] = 'Z'
	return string(b[:])
}

type sqliteDialect struct{}

func (sqliteDialect) rebind(q string) string  { return q }
func (sqliteDialect) timeArg(t time.Time) any { return SQLiteTime(t) }

// SQLite's write transactions are already exclusive (BEGIN IMMEDIATE).
func (sqliteDialect) forUpdate() string { return "" }

// unindexed: SQLite's unary + changes no value but hides the column from
// the planner. Without table statistics (nothing runs ANALYZE) it judged
// "status = 'pending'" more selective than a list of primary keys.
func (sqliteDialect) unindexed(col string) string { return "+" + col }
func (sqliteDialect) tableExists() string {
	return `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
}
func (sqliteDialect) skipLocked() string { return "" }
func (sqliteDialect) jsonField(col, key string) string {
	return "json_extract(" + col + ", '$." + key + "')"
}
func (sqliteDialect) bucket15(col string) string {
	return fmt.Sprintf("substr(%[1]s, 1, 14) || printf('%%02d', CAST(substr(%[1]s, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z'", col)
}
func (sqliteDialect) utcDay(col string) string {
	return "substr(" + col + ", 1, 10) || 'T00:00:00.000000Z'"
}
func (sqliteDialect) indexedBy(index string) string { return " INDEXED BY " + index }
func (sqliteDialect) epoch(col string) string       { return "unixepoch(" + col + ")" }
func (sqliteDialect) secondsBetween(a, b string) string {
	// unixepoch(…, 'subsec') keeps milliseconds exactly; julianday's
	// floating-point days would turn 60 s into 59.9999964.
	return fmt.Sprintf("(unixepoch(%s, 'subsec') - unixepoch(%s, 'subsec'))", b, a)
}

type postgresDialect struct{}

func (postgresDialect) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
func (postgresDialect) timeArg(t time.Time) any          { return t.UTC() }
func (postgresDialect) forUpdate() string                { return " FOR UPDATE" }
func (postgresDialect) unindexed(col string) string      { return col } // its statistics pick the key
func (postgresDialect) jsonField(col, key string) string { return col + "->>'" + key + "'" }
func (postgresDialect) tableExists() string {
	return `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
}
func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) bucket15(col string) string {
	return "date_bin('15 minutes', " + col + ", TIMESTAMPTZ '2000-01-01 00:00:00+00')"
}
func (postgresDialect) utcDay(col string) string {
	return "date_bin('1 day', " + col + ", TIMESTAMPTZ '2000-01-01 00:00:00+00')"
}
func (postgresDialect) indexedBy(string) string { return "" }
func (postgresDialect) epoch(col string) string {
	return "FLOOR(EXTRACT(EPOCH FROM " + col + "))::BIGINT"
}
func (postgresDialect) secondsBetween(a, b string) string {
	return fmt.Sprintf("EXTRACT(EPOCH FROM (%s - %s))", b, a)
}

// Time scans a timestamp from either engine: SQLite gives text, PostgreSQL
// a time.Time. The result is always UTC.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("store: cannot scan %T into a timestamp", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// SQLite's CURRENT_TIMESTAMP form, for rows written by hand.
		if p, err = time.Parse("2006-01-02 15:04:05", s); err != nil {
			return fmt.Errorf("store: bad timestamp %q", s)
		}
	}
	t.Time = p.UTC()
	return nil
}

// NullTime scans an optional timestamp.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *NullTime) Scan(src any) error {
	if src == nil {
		n.Valid = false
		return nil
	}
	var t Time
	if err := t.Scan(src); err != nil {
		return err
	}
	n.Time, n.Valid = t.Time, true
	return nil
}

// Ptr returns the time or nil.
func (n NullTime) Ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}

var _ driver.Valuer = (*jsonText)(nil)

// jsonText binds a JSON document as text; both a SQLite TEXT column and a
// PostgreSQL jsonb column accept it.
type jsonText []byte

func (j jsonText) Value() (driver.Value, error) {
	if j == nil {
		return nil, nil
	}
	return string(j), nil
}

// NullString is sql.NullString, named here so callers of the store need not
// import database/sql for it.
type NullString = sql.NullString
