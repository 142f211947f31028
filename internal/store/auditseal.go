package store

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"

	"github.com/spendsense/operator-api/internal/auditproof"
)

// sealLock is the PostgreSQL advisory lock key a sealing transaction
// holds, so two processes never build the same seal number ("seal" in
// ASCII).
const sealLock = 0x7365616c

// DefaultSealRows bounds one seal: its rows' ids and hashes are held in
// memory while it is built (~100 bytes a row).
const DefaultSealRows = 100_000

// SealAudit seals up to maxRows chained audit rows that no seal covers
// yet, in one transaction: it marks them with the new seal's number (in
// the same UPDATE that reads them, so the seal covers exactly the rows it
// marks, whatever commits meanwhile), signs the Merkle root of their
// hashes in audit id order with key, chained to the previous seal, and
// stores the seal. Rows committed after it read the table are left for the
// next seal; an interrupted seal leaves its rows unsealed, also for the
// next one. It returns nil when there was nothing to seal.
func (s *Store) SealAudit(ctx context.Context, key ed25519.PrivateKey, maxRows int) (*auditproof.Seal, error) {
	return s.sealAudit(ctx, key, maxRows, nil)
}

// sealAudit is SealAudit; beforeCommit, when set, runs last inside the
// transaction (tests use it to abort a seal half way).
func (s *Store) sealAudit(ctx context.Context, key ed25519.PrivateKey, maxRows int, beforeCommit func() error) (*auditproof.Seal, error) {
	if maxRows <= 0 {
		maxRows = DefaultSealRows
	}
	var out *auditproof.Seal
	err := s.withLargeTx(ctx, func(tx *Tx) error {
		if s.Engine == Postgres {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(sealLock)); err != nil {
				return err
			}
		}
		seal := auditproof.Seal{SealID: 1, SealedAt: tx.Now}
		err := tx.QueryRow(ctx, `SELECT seal_id, seal_hash FROM audit_seals ORDER BY seal_id DESC LIMIT 1`).Scan(&seal.SealID, &seal.PrevHash)
		switch {
		case errors.Is(err, errNotFound):
		case err != nil:
			return fmt.Errorf("last seal: %w", err)
		default:
			seal.SealID++
		}
		rows, err := tx.Query(ctx, `UPDATE operator_audit_log SET seal_id = ?
WHERE audit_id IN (SELECT audit_id FROM operator_audit_log WHERE seal_id IS NULL AND row_hash IS NOT NULL ORDER BY audit_id LIMIT ?)
RETURNING audit_id, row_hash`, seal.SealID, maxRows)
		if err != nil {
			return fmt.Errorf("seal rows: %w", err)
		}
		type leaf struct{ id, hash string }
		var leaves []leaf
		for rows.Next() {
			var l leaf
			if err := rows.Scan(&l.id, &l.hash); err != nil {
				rows.Close()
				return fmt.Errorf("seal rows: %w", err)
			}
			leaves = append(leaves, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("seal rows: %w", err)
		}
		if len(leaves) == 0 {
			return nil
		}
		sort.Slice(leaves, func(i, j int) bool { return leaves[i].id < leaves[j].id })
		hashes := make([]string, len(leaves))
		for i, l := range leaves {
			hashes[i] = l.hash
		}
		if seal.MerkleRoot, err = auditproof.MerkleRoot(hashes); err != nil {
			return err
		}
		seal.RowCount, seal.FirstID, seal.LastID = int64(len(leaves)), leaves[0].id, leaves[len(leaves)-1].id
		seal.Sign(key)
		if _, err := tx.Exec(ctx, `INSERT INTO audit_seals (`+sealColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			seal.SealID, s.ts(seal.SealedAt), seal.RowCount, seal.FirstID, seal.LastID, seal.MerkleRoot, seal.PrevHash,
			seal.SealHash, seal.PublicKey, seal.Signature); err != nil {
			return fmt.Errorf("store seal: %w", err)
		}
		if beforeCommit != nil {
			if err := beforeCommit(); err != nil {
				return err
			}
		}
		out = &seal
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SealAllAudit seals until no unsealed row is left, in seals of at most
// maxRows, and returns how many seals it made.
func (s *Store) SealAllAudit(ctx context.Context, key ed25519.PrivateKey, maxRows int) (int, error) {
	n := 0
	for {
		seal, err := s.SealAudit(ctx, key, maxRows)
		if err != nil || seal == nil {
			return n, err
		}
		n++
	}
}
