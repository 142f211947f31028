package store

import (
	"context"
	"strings"
)

// placeholders is "?,?,…,?" for n parameters (empty for none).
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// inList is "(?,…,?)" for values, with the values as arguments.
func inList(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return "(" + placeholders(len(values)) + ")", args
}

// insertMany runs head + "(?,…),(?,…)…" + tail for n rows of width
// columns, row appending row i's arguments, in as many statements as both
// engines' parameter limits need. It returns how many rows the statements
// affected (an INSERT … ON CONFLICT DO NOTHING counts only rows inserted).
func insertMany(ctx context.Context, tx *Tx, head string, width, n int, row func(i int, args []any) []any, tail string) (int64, error) {
	const maxParams = 30000
	per := max(1, maxParams/width)
	tuple := "(" + placeholders(width) + ")"
	var total int64
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		var b strings.Builder
		b.Grow(len(head) + (end-start)*(len(tuple)+1) + len(tail))
		b.WriteString(head)
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			args = row(i, args)
		}
		b.WriteString(tail)
		r, err := tx.Exec(ctx, b.String(), args...)
		if err != nil {
			return total, err
		}
		k, err := r.RowsAffected()
		if err != nil {
			return total, err
		}
		total += k
	}
	return total, nil
}
