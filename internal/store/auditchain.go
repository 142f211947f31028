package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/spendsense/operator-api/internal/auditproof"
)

// headTable is where a subject's chain head lives: the subject's own row,
// so that writers of different subjects never touch a common row (no
// global lock; the row lock an action already holds on its recommendation
// serialises its chain), or audit_heads for subjects without a row.
type headTable struct {
	prefix, table, key, col string
}

var headTables = []headTable{
	{"recommendation:", "recommendations", "recommendation_id", "audit_head"},
	{"operator:", "operators", "operator_id", "audit_head"},
	{"", "audit_heads", "subject", "head"}, // every other subject, keyed by its full name
}

func headTableOf(subject string) (headTable, string) {
	for _, t := range headTables {
		if t.prefix != "" && strings.HasPrefix(subject, t.prefix) {
			return t, strings.TrimPrefix(subject, t.prefix)
		}
	}
	return headTables[len(headTables)-1], subject
}

// chainAudit links rows (new, in the order they are written) into their
// subjects' chains: it reads and locks each subject's head, fills in each
// row's PrevHash and RowHash, and stores the new heads, all in tx.
func (tx *Tx) chainAudit(ctx context.Context, rows []auditproof.Row) error {
	subjects := make([]string, len(rows))
	for i, r := range rows {
		subjects[i] = auditproof.SubjectOf(r)
	}
	heads, err := tx.lockHeads(ctx, subjects)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].PrevHash = heads[subjects[i]]
		h, err := auditproof.Hash(rows[i])
		if err != nil {
			return err
		}
		rows[i].RowHash = h
		heads[subjects[i]] = h
	}
	return tx.storeHeads(ctx, heads)
}

// lockHeads reads the current head of each subject ("" for none), locking
// the rows that hold them on PostgreSQL. A subject whose row is missing is
// an error: an audit row must be about something that exists.
func (tx *Tx) lockHeads(ctx context.Context, subjects []string) (map[string]string, error) {
	heads := make(map[string]string, len(subjects))
	byTable := map[headTable][]string{}
	for _, s := range subjects {
		if _, ok := heads[s]; ok {
			continue
		}
		heads[s] = ""
		t, key := headTableOf(s)
		byTable[t] = append(byTable[t], key)
	}
	for _, t := range headTables {
		keys := byTable[t]
		if len(keys) == 0 {
			continue
		}
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k
		}
		if t.table == "audit_heads" {
			// Rows for new subjects first, so the SELECT can lock them.
			vals := strings.TrimSuffix(strings.Repeat("(?),", len(keys)), ",")
			if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (subject) VALUES `+vals+` ON CONFLICT (subject) DO NOTHING`, args...); err != nil {
				return nil, fmt.Errorf("audit head: %w", err)
			}
		}
		q := `SELECT ` + t.key + `, ` + t.col + ` FROM ` + t.table + ` WHERE ` + t.key
		if len(keys) == 1 {
			q += ` = ?`
		} else {
			q += ` IN (` + placeholders(len(keys)) + `)`
		}
		rows, err := tx.Query(ctx, q+tx.s.d.forUpdate(), args...)
		if err != nil {
			return nil, fmt.Errorf("audit head: %w", err)
		}
		found := 0
		for rows.Next() {
			var key string
			var head *string
			if err := rows.Scan(&key, &head); err != nil {
				rows.Close()
				return nil, fmt.Errorf("audit head: %w", err)
			}
			found++
			if head != nil {
				heads[t.prefix+key] = *head
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("audit head: %w", err)
		}
		if found != len(keys) {
			return nil, fmt.Errorf("audit: %d of the %s rows an audit row is about do not exist", len(keys)-found, t.table)
		}
	}
	return heads, nil
}

// storeHeads writes the new head of each subject: one statement per table.
func (tx *Tx) storeHeads(ctx context.Context, heads map[string]string) error {
	byTable := map[headTable][]any{}
	for s, h := range heads {
		t, key := headTableOf(s)
		byTable[t] = append(byTable[t], key, h)
	}
	for _, t := range headTables {
		args := byTable[t]
		var err error
		switch len(args) {
		case 0:
			continue
		case 2:
			_, err = tx.Exec(ctx, `UPDATE `+t.table+` SET `+t.col+` = ? WHERE `+t.key+` = ?`, args[1], args[0])
		default:
			vals := strings.TrimSuffix(strings.Repeat("(?, ?),", len(args)/2), ",")
			_, err = tx.Exec(ctx, `WITH v(k, h) AS (VALUES `+vals+`) UPDATE `+t.table+` SET `+t.col+` = v.h FROM v WHERE `+t.table+`.`+t.key+` = v.k`, args...)
		}
		if err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
	}
	return nil
}

// legacyChainBatch is how many unchained rows one transaction of
// chainLegacyAudit links.
const legacyChainBatch = 2000

// chainLegacyAudit links audit rows written before the chain existed
// (row_hash NULL) into their subjects' chains, in batches of its own
// transactions: interrupted, it resumes with the rows still unchained.
// Rows are taken per subject in time order and continue from the
// subject's current head, so rows chained by writers meanwhile stay valid.
// maxBatches < 0 means until none is left.
func (s *Store) chainLegacyAudit(ctx context.Context, batch, maxBatches int) (chained int, err error) {
	for b := 0; maxBatches < 0 || b < maxBatches; b++ {
		n := 0
		err := s.withLargeTx(ctx, func(tx *Tx) error {
			rows, err := tx.legacyAuditRows(ctx, batch)
			if err != nil || len(rows) == 0 {
				return err
			}
			n = len(rows)
			if err := tx.chainAudit(ctx, rows); err != nil {
				return err
			}
			const per = 1000
			for start := 0; start < len(rows); start += per {
				part := rows[start:min(len(rows), start+per)]
				args := make([]any, 0, 3*len(part))
				for _, r := range part {
					args = append(args, r.AuditID, r.PrevHash, r.RowHash)
				}
				vals := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(part)), ",")
				if _, err := tx.Exec(ctx, `WITH v(k, p, h) AS (VALUES `+vals+`) UPDATE operator_audit_log SET prev_hash = v.p, row_hash = v.h
FROM v WHERE operator_audit_log.audit_id = v.k AND operator_audit_log.row_hash IS NULL`, args...); err != nil {
					return fmt.Errorf("chain audit rows: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return chained, err
		}
		chained += n
		if n < batch {
			break
		}
	}
	return chained, nil
}

// ChainUnchainedAudit links every audit row written without the chain
// (bulk loads such as the seed generator write rows directly) into its
// subject's chain, as the migration does for rows from before it.
func (s *Store) ChainUnchainedAudit(ctx context.Context) (int, error) {
	return s.chainLegacyAudit(ctx, legacyChainBatch, -1)
}

// legacyAuditRows reads up to n unchained rows, each subject's in time order.
func (tx *Tx) legacyAuditRows(ctx context.Context, n int) ([]auditproof.Row, error) {
	rows, err := tx.Query(ctx, `SELECT `+auditProofColumns+` FROM operator_audit_log WHERE row_hash IS NULL
ORDER BY recommendation_id, timestamp, audit_id LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("read unchained audit rows: %w", err)
	}
	defer rows.Close()
	var out []auditproof.Row
	for rows.Next() {
		r, err := scanAuditProof(rows)
		if err != nil {
			return nil, fmt.Errorf("read unchained audit rows: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
