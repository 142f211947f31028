package store

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spendsense/operator-api/internal/auditproof"
)

const auditProofColumns = auditColumns + `, prev_hash, row_hash, seal_id`

func scanAuditProof(row rowScanner) (auditproof.Row, error) {
	var r auditproof.Row
	var rec, prev, hash sql.NullString
	var seal sql.NullInt64
	var meta []byte
	var ts Time
	if err := row.Scan(&r.AuditID, &r.OperatorID, &r.Action, &rec, &meta, &ts, &prev, &hash, &seal); err != nil {
		return r, err
	}
	r.RecommendationID, r.Metadata, r.Timestamp = rec.String, meta, ts.Time
	r.PrevHash, r.RowHash, r.SealID = prev.String, hash.String, seal.Int64
	return r, nil
}

const sealColumns = `seal_id, sealed_at, row_count, first_audit_id, last_audit_id, merkle_root, prev_seal_hash, seal_hash, public_key, signature`

func scanSeal(row rowScanner) (auditproof.Seal, error) {
	var s auditproof.Seal
	var at Time
	err := row.Scan(&s.SealID, &at, &s.RowCount, &s.FirstID, &s.LastID, &s.MerkleRoot, &s.PrevHash, &s.SealHash, &s.PublicKey, &s.Signature)
	s.SealedAt = at.Time
	return s, err
}

// VerifyAudit gives v every audit row, every subject's chain head and
// every seal, all read in one snapshot so concurrent writers cannot make it
// see half an action, and returns v's findings.
func (s *Store) VerifyAudit(ctx context.Context, v *auditproof.Verifier) (auditproof.Report, error) {
	err := s.eachAuditProof(ctx,
		func(r auditproof.Row) error { v.Row(r); return nil },
		func(subject, head string) error { v.Head(subject, head); return nil },
		func(seal auditproof.Seal) error { v.Seal(seal); return nil })
	if err != nil {
		return auditproof.Report{}, fmt.Errorf("verify audit: %w", err)
	}
	return v.Finish(), nil
}

// eachAuditProof streams the whole audit trail from one snapshot: every
// row with its chain fields in audit id order, then every subject's chain
// head, then every seal in order. It is what verify reads and what a proof
// export carries.
func (s *Store) eachAuditProof(ctx context.Context, row func(auditproof.Row) error, head func(subject, head string) error, seal func(auditproof.Seal) error) error {
	return s.readSnapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+auditProofColumns+` FROM operator_audit_log ORDER BY audit_id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			r, err := scanAuditProof(rows)
			if err == nil {
				err = row(r)
			}
			if err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range headTables {
			cond := t.col + ` IS NOT NULL`
			if t.table == "audit_heads" {
				cond = t.col + ` <> ''`
			}
			rows, err := tx.QueryContext(ctx, `SELECT `+t.key+`, `+t.col+` FROM `+t.table+` WHERE `+cond+` ORDER BY `+t.key)
			if err != nil {
				return err
			}
			for rows.Next() {
				var key, h string
				err := rows.Scan(&key, &h)
				if err == nil {
					err = head(t.prefix+key, h)
				}
				if err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return eachSeal(ctx, tx, seal)
	})
}

func eachSeal(ctx context.Context, tx *sql.Tx, fn func(auditproof.Seal) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+sealColumns+` FROM audit_seals ORDER BY seal_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		seal, err := scanSeal(rows)
		if err != nil {
			return err
		}
		if err := fn(seal); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readSnapshot runs fn in a read-only transaction that sees one committed
// state throughout: REPEATABLE READ on PostgreSQL; on SQLite any read
// transaction holds one WAL snapshot from its first read.
func (s *Store) readSnapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if s.Engine == Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.Read.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// chainCheck is Check's view of VerifyAudit: chains, heads and seals
// without signatures (check takes no key).
func (s *Store) chainCheck(ctx context.Context) (*Violation, error) {
	rep, err := s.VerifyAudit(ctx, auditproof.NewChainVerifier())
	if err != nil {
		return nil, err
	}
	if rep.OK() {
		return nil, nil
	}
	v := &Violation{Invariant: "audit hash chains and seals hold (spendsense audit verify)", Count: int64(len(rep.Problems))}
	for _, p := range rep.Problems[:min(5, len(rep.Problems))] {
		v.Examples = append(v.Examples, p.String())
	}
	return v, nil
}

// WriteAuditProof writes the whole trail as a proof export (NDJSON lines
// of auditproof.Line) from one snapshot.
func (s *Store) WriteAuditProof(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	err := s.eachAuditProof(ctx,
		func(r auditproof.Row) error { return enc.Encode(auditproof.RowLine(r)) },
		func(subject, head string) error {
			return enc.Encode(auditproof.Line{Type: "head", Subject: subject, Head: head})
		},
		func(seal auditproof.Seal) error { return enc.Encode(auditproof.Line{Type: "seal", Seal: &seal}) })
	if err != nil {
		return fmt.Errorf("export audit proof: %w", err)
	}
	return bw.Flush()
}
