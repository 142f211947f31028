package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/spendsense/operator-api/internal/auditproof"
)

// A proof export read in pages.
//
// A proof export must be a consistent cut of the trail: each subject's rows
// with the head that ends them, and each seal with exactly the rows that
// carry it. Reading it all in one snapshot held a pooled connection for as
// long as the client took to read it, and a client that never read held it
// for ever. So the export is read in pages, each in its own short read-only
// snapshot under its own deadline, and written only after the page's
// connection is back in the pool. What keeps the pages consistent:
//
//   - The cut for seals is the newest seal when the export starts, M. Seals
//     and the marks they put on rows are never changed, so every row that
//     carries a seal up to M at the start still does in any later page; a
//     row sealed after the start (seal > M) is exported as not sealed yet.
//   - Chains are read a page of subjects at a time: each subject's rows and
//     its head in the same snapshot. A row is only ever added to its
//     subject's chain together with the head, in one transaction, so every
//     subject is exported whole as of its page's snapshot.
//
// Rows of a subject are never split between pages: the first page reads
// proofFirstSubjects subjects, later ones twice as many after a page of
// fewer than proofPageRows/4 rows (up to proofPageSubjects), half as many
// after one of more than proofPageRows, so a page holds about
// proofPageRows rows, or one subject's rows when a single subject has more.

const (
	proofFirstSubjects = 16
	proofPageSubjects  = 500
	proofPageRows      = 2000
	proofPageSeals     = 1000
)

// EachAuditProofPage reads the whole trail, as eachAuditProof does, in
// pages: each page is read under its own timeout (pageTimeout), its
// connection returned, and then handed to page (rows, heads and seals as
// proof export lines). An error from page ends the export.
func (s *Store) EachAuditProofPage(ctx context.Context, page func([]auditproof.Line) error) error {
	read := func(fn func(ctx context.Context, tx *sql.Tx) error) error {
		c, cancel := context.WithTimeout(ctx, pageTimeout)
		defer cancel()
		return s.readSnapshot(c, func(tx *sql.Tx) error { return fn(c, tx) })
	}
	var lastSeal int64
	if err := read(func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seal_id), 0) FROM audit_seals`).Scan(&lastSeal)
	}); err != nil {
		return fmt.Errorf("export audit proof: %w", err)
	}
	p := &proofPager{s: s, lastSeal: lastSeal, batch: proofFirstSubjects}
	for _, step := range []func(context.Context, *sql.Tx) ([]auditproof.Line, bool, error){p.seals, p.recommendations, p.others} {
		for more := true; more; {
			var lines []auditproof.Line
			err := read(func(ctx context.Context, tx *sql.Tx) error {
				var err error
				lines, more, err = step(ctx, tx)
				return err
			})
			if err != nil {
				return fmt.Errorf("export audit proof: %w", err)
			}
			if len(lines) > 0 {
				if err := page(lines); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// proofPager keeps a paged proof export's place.
type proofPager struct {
	s        *Store
	lastSeal int64  // the export's cut for seals
	seal     int64  // the last seal exported
	rec      string // the last recommendation whose chain was exported
	batch    int    // how many recommendations the next page reads
}

// seals reads the next page of seals up to the cut.
func (p *proofPager) seals(ctx context.Context, tx *sql.Tx) ([]auditproof.Line, bool, error) {
	rows, err := tx.QueryContext(ctx, p.s.d.rebind(`SELECT `+sealColumns+` FROM audit_seals WHERE seal_id > ? AND seal_id <= ? ORDER BY seal_id LIMIT ?`),
		p.seal, p.lastSeal, proofPageSeals)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var lines []auditproof.Line
	for rows.Next() {
		seal, err := scanSeal(rows)
		if err != nil {
			return nil, false, err
		}
		p.seal = seal.SealID
		lines = append(lines, auditproof.Line{Type: "seal", Seal: &seal})
	}
	return lines, len(lines) == proofPageSeals, rows.Err()
}

// recommendations reads the chains of the next page of recommendations:
// those with audit rows or a head (a head without rows is a finding too).
func (p *proofPager) recommendations(ctx context.Context, tx *sql.Tx) ([]auditproof.Line, bool, error) {
	rows, err := tx.QueryContext(ctx, p.s.d.rebind(`SELECT id FROM (
SELECT recommendation_id AS id FROM operator_audit_log WHERE recommendation_id > ?
UNION SELECT recommendation_id FROM recommendations WHERE audit_head IS NOT NULL AND recommendation_id > ?
) subjects ORDER BY id LIMIT ?`), p.rec, p.rec, p.batch)
	if err != nil {
		return nil, false, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, false, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, false, err
	}
	p.rec = ids[len(ids)-1].(string)
	in := `(` + placeholders(len(ids)) + `)`
	lines, err := p.rows(ctx, tx, `recommendation_id IN `+in, ids)
	if err != nil {
		return nil, false, err
	}
	more := len(ids) == p.batch
	switch n := len(lines); {
	case n > proofPageRows:
		p.batch = max(1, p.batch/2)
	case n < proofPageRows/4:
		p.batch = min(proofPageSubjects, p.batch*2)
	}
	lines, err = p.heads(ctx, tx, lines, headTables[0], `recommendation_id IN `+in+` AND audit_head IS NOT NULL`, ids)
	return lines, more, err
}

// others reads, in one page, the chains that are not a recommendation's:
// operator administration and the vocabulary, a handful of rows per
// administrative change.
func (p *proofPager) others(ctx context.Context, tx *sql.Tx) ([]auditproof.Line, bool, error) {
	lines, err := p.rows(ctx, tx, `recommendation_id IS NULL`, nil)
	if err != nil {
		return nil, false, err
	}
	if lines, err = p.heads(ctx, tx, lines, headTables[1], `audit_head IS NOT NULL`, nil); err != nil {
		return nil, false, err
	}
	lines, err = p.heads(ctx, tx, lines, headTables[2], `head <> ''`, nil)
	return lines, false, err
}

// rows reads the audit rows matching where, in id order; a seal after the
// export's cut is left off (the row is not sealed yet as of the cut).
func (p *proofPager) rows(ctx context.Context, tx *sql.Tx, where string, args []any) ([]auditproof.Line, error) {
	rows, err := tx.QueryContext(ctx, p.s.d.rebind(`SELECT `+auditProofColumns+` FROM operator_audit_log WHERE `+where+` ORDER BY audit_id`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lines []auditproof.Line
	for rows.Next() {
		r, err := scanAuditProof(rows)
		if err != nil {
			return nil, err
		}
		if r.SealID > p.lastSeal {
			r.SealID = 0
		}
		lines = append(lines, auditproof.RowLine(r))
	}
	return lines, rows.Err()
}

// heads appends the chain heads of table t matching where.
func (p *proofPager) heads(ctx context.Context, tx *sql.Tx, lines []auditproof.Line, t headTable, where string, args []any) ([]auditproof.Line, error) {
	rows, err := tx.QueryContext(ctx, p.s.d.rebind(`SELECT `+t.key+`, `+t.col+` FROM `+t.table+` WHERE `+where+` ORDER BY `+t.key), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var key, h string
		if err := rows.Scan(&key, &h); err != nil {
			return nil, err
		}
		lines = append(lines, auditproof.Line{Type: "head", Subject: t.prefix + key, Head: h})
	}
	return lines, rows.Err()
}
