package store

import (
	"context"
	"fmt"
	"strings"
)

// Violation is one broken invariant with a few example ids.
type Violation struct {
	Invariant string
	Count     int64
	Examples  []string
}

// invariants are the rules every committed state must satisfy. Each query
// returns the recommendation (or row) ids that break its rule.
var invariants = []struct{ name, query string }{
	{"approved items have approved_by and approved_at",
		`SELECT recommendation_id FROM recommendations WHERE status = 'approved' AND (approved_by IS NULL OR approved_at IS NULL)`},
	{"rejected items have rejected_by and rejected_at",
		`SELECT recommendation_id FROM recommendations WHERE status = 'rejected' AND (rejected_by IS NULL OR rejected_at IS NULL)`},
	{"flagged items have exactly one open flag",
		`SELECT r.recommendation_id FROM recommendations r WHERE r.status = 'flagged'
 AND (SELECT COUNT(*) FROM recommendation_flags f WHERE f.recommendation_id = r.recommendation_id AND f.resolved = ?) <> 1`},
	{"only flagged items have open flags",
		`SELECT f.recommendation_id FROM recommendation_flags f JOIN recommendations r ON r.recommendation_id = f.recommendation_id
 WHERE f.resolved = ? AND r.status <> 'flagged'`},
	{"approved items have a delivery",
		`SELECT r.recommendation_id FROM recommendations r LEFT JOIN deliveries d ON d.recommendation_id = r.recommendation_id
 WHERE r.status = 'approved' AND d.recommendation_id IS NULL`},
	{"deliveries belong to approved items (cancelled ones to undone approvals)",
		`SELECT d.recommendation_id FROM deliveries d JOIN recommendations r ON r.recommendation_id = d.recommendation_id
 WHERE (r.status <> 'approved') <> (d.status = 'cancelled')`},
	{"approved items have exactly one approving audit row",
		`SELECT r.recommendation_id FROM recommendations r WHERE r.status = 'approved' AND (SELECT COUNT(*) FROM operator_audit_log a
 WHERE a.recommendation_id = r.recommendation_id AND (a.action = 'approve' OR (a.action = 'resolve_flag' AND {resolution} = 'approve')) AND {not undone}) <> 1`},
	{"rejected items have exactly one rejecting audit row",
		`SELECT r.recommendation_id FROM recommendations r WHERE r.status = 'rejected' AND (SELECT COUNT(*) FROM operator_audit_log a
 WHERE a.recommendation_id = r.recommendation_id AND (a.action = 'reject' OR (a.action = 'resolve_flag' AND {resolution} = 'reject')) AND {not undone}) <> 1`},
	{"pending items have no approving or rejecting audit row",
		`SELECT r.recommendation_id FROM recommendations r WHERE r.status = 'pending' AND EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = r.recommendation_id AND a.action IN ('approve', 'reject') AND {not undone})`},
	{"every undo takes back a decision on its own recommendation",
		`SELECT u.audit_id FROM operator_audit_log u WHERE u.action = 'undo' AND NOT EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.audit_id = {undone:u} AND a.recommendation_id = u.recommendation_id AND a.action IN (` + decisionActions + `))`},
	{"a decision is undone at most once",
		`SELECT k FROM (SELECT {undone:u} AS k, COUNT(*) AS n FROM operator_audit_log u WHERE u.action = 'undo' GROUP BY 1) x WHERE n > 1`},
	{"an undo window is open only after a decision",
		`SELECT recommendation_id FROM recommendations WHERE undo_expires_at IS NOT NULL AND (previous_status IS NULL OR status_changed_at IS NULL)`},
	{"version is 1 + the number of audited changes",
		`SELECT r.recommendation_id FROM recommendations r WHERE r.version <> 1 + (SELECT COUNT(*) FROM operator_audit_log a
 WHERE a.recommendation_id = r.recommendation_id AND a.action NOT IN ('retry_delivery', ` + annotationActions + `))`},
	{"status counters match the recommendations",
		`SELECT status FROM (SELECT status, SUM(n) AS d FROM (
 SELECT status, n FROM recommendation_status_counts
 UNION ALL SELECT status, -COUNT(*) FROM recommendations GROUP BY status) x GROUP BY status) y WHERE d <> 0`},
	{"audit counters match the audit trail",
		`SELECT k FROM (SELECT operator_id || ' ' || action AS k, SUM(n) AS d FROM (
 SELECT operator_id, action, n FROM audit_counts
 UNION ALL SELECT operator_id, action, -COUNT(*) FROM operator_audit_log GROUP BY operator_id, action) x
 GROUP BY operator_id, action) y WHERE d <> 0`},
	{"audit day counters match the audit trail",
		`SELECT k FROM (SELECT CAST(day AS TEXT) || ' ' || operator_id || ' ' || action AS k, SUM(n) AS d FROM (
 SELECT day, operator_id, action, n FROM audit_day_counts
 UNION ALL SELECT {day:a.timestamp}, a.operator_id, a.action, -COUNT(*) FROM operator_audit_log a GROUP BY 1, 2, 3) x
 GROUP BY day, operator_id, action) y WHERE d <> 0`},
	{"decision buckets match the decisions",
		`SELECT k FROM (SELECT CAST(bucket AS TEXT) || ' ' || operator_id AS k, SUM(a) AS a, SUM(r) AS r, SUM(asecs) AS asecs, SUM(rsecs) AS rsecs FROM (
 SELECT bucket, operator_id, approved AS a, rejected AS r, approved_secs AS asecs, rejected_secs AS rsecs FROM decision_buckets
 UNION ALL SELECT {bucket:approved_at}, COALESCE(approved_by, ''), -1, 0, -{seconds:approved_at}, 0 FROM recommendations WHERE approved_at IS NOT NULL
 UNION ALL SELECT {bucket:rejected_at}, COALESCE(rejected_by, ''), 0, -1, 0, -{seconds:rejected_at} FROM recommendations WHERE rejected_at IS NOT NULL
 ) x GROUP BY bucket, operator_id) y WHERE a <> 0 OR r <> 0 OR asecs > 0.01 OR asecs < -0.01 OR rsecs > 0.01 OR rsecs < -0.01`},
	{"activity buckets match the audit trail and the queue",
		`SELECT k FROM (SELECT CAST(bucket AS TEXT) || ' ' || action AS k, SUM(n) AS d FROM (
 SELECT bucket, action, n FROM activity_buckets
 UNION ALL SELECT {epochbucket:a.timestamp}, a.action, -COUNT(*) FROM operator_audit_log a GROUP BY 1, 2
 UNION ALL SELECT {epochbucket:created_at}, 'created', -COUNT(*) FROM recommendations GROUP BY 1) x
 GROUP BY bucket, action) y WHERE d <> 0`},
	{"operator buckets match the audit trail",
		`SELECT k FROM (SELECT CAST(bucket AS TEXT) || ' ' || operator_id || ' ' || action AS k, SUM(n) AS d FROM (
 SELECT bucket, operator_id, action, n FROM operator_buckets
 UNION ALL SELECT {epochbucket:a.timestamp}, a.operator_id, a.action, -COUNT(*) FROM operator_audit_log a GROUP BY 1, 2, 3) x
 GROUP BY bucket, operator_id, action) y WHERE d <> 0`},
	{"activity day rollups match the activity buckets",
		`SELECT k FROM (SELECT CAST(day AS TEXT) || ' ' || action || ' ' || persona AS k, SUM(n) AS d FROM (
 SELECT day, action, persona, n FROM activity_days
 UNION ALL SELECT bucket / 86400 * 86400, action, persona, -n FROM activity_buckets) x
 GROUP BY day, action, persona) y WHERE d <> 0`},
	{"activity hour rollups match the activity buckets",
		`SELECT k FROM (SELECT CAST(hour AS TEXT) || ' ' || action || ' ' || persona AS k, SUM(n) AS d FROM (
 SELECT hour, action, persona, n FROM activity_hours
 UNION ALL SELECT bucket / 3600 * 3600, action, persona, -n FROM activity_buckets) x
 GROUP BY hour, action, persona) y WHERE d <> 0`},
	{"decision day rollups match the decision buckets",
		`SELECT k FROM (SELECT CAST(day AS TEXT) AS k, SUM(a) AS a, SUM(r) AS r, SUM(asecs) AS asecs, SUM(rsecs) AS rsecs FROM (
 SELECT day, approved AS a, rejected AS r, approved_secs AS asecs, rejected_secs AS rsecs FROM decision_days
 UNION ALL SELECT {epoch:bucket} / 86400 * 86400, -approved, -rejected, -approved_secs, -rejected_secs FROM decision_buckets
 ) x GROUP BY day) y WHERE a <> 0 OR r <> 0 OR asecs > 0.01 OR asecs < -0.01 OR rsecs > 0.01 OR rsecs < -0.01`},
	{"the guardrail-failure counter matches the pending items",
		`SELECT 'pending_guardrail_failures' FROM (SELECT SUM(n) AS d FROM (
 SELECT n FROM pending_guardrail_failures
 UNION ALL SELECT -COUNT(*) FROM recommendations WHERE status = 'pending' AND NOT guardrails_passed) x) y WHERE d <> 0`},
	{"every note has its note_add audit row",
		`SELECT n.note_id FROM recommendation_notes n WHERE NOT EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = n.recommendation_id AND a.action = 'note_add' AND {meta:note_id} = n.note_id)`},
	{"deleted notes are gone",
		`SELECT n.note_id FROM recommendation_notes n WHERE EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = n.recommendation_id AND a.action = 'note_delete' AND {meta:note_id} = n.note_id)`},
	{"every tag has its tag_add audit row",
		`SELECT t.tag_id FROM recommendation_tags t WHERE NOT EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = t.recommendation_id AND a.action = 'tag_add' AND {meta:tag_id} = t.tag_id)`},
	{"removed tags are gone",
		`SELECT t.tag_id FROM recommendation_tags t WHERE EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = t.recommendation_id AND a.action = 'tag_remove' AND {meta:tag_id} = t.tag_id)`},
	{"every flag has a flag audit row",
		`SELECT f.flag_id FROM recommendation_flags f WHERE NOT EXISTS (SELECT 1 FROM operator_audit_log a
 WHERE a.recommendation_id = f.recommendation_id AND a.action = 'flag')`},
}

// annotationActions are the audit actions about notes and tags: they
// change no recommendation (its version stays).
const annotationActions = `'note_add', 'note_edit', 'note_delete', 'tag_add', 'tag_remove'`

// Check verifies the database's invariants (status ↔ audit ↔ flags ↔
// deliveries, foreign keys) and returns every violation found; none means
// the data is consistent. It only reads.
func (s *Store) Check(ctx context.Context) ([]Violation, error) {
	var out []Violation
	for _, inv := range invariants {
		q := strings.ReplaceAll(inv.query, "{resolution}", s.d.jsonField("a.metadata", "resolution"))
		q = strings.ReplaceAll(q, "{day:a.timestamp}", s.d.utcDay("a.timestamp"))
		q = strings.ReplaceAll(q, "{not undone}", `NOT EXISTS (SELECT 1 FROM operator_audit_log u
 WHERE u.recommendation_id = a.recommendation_id AND u.action = 'undo' AND {undone:u} = a.audit_id)`)
		q = strings.ReplaceAll(q, "{undone:u}", s.d.jsonField("u.metadata", "undone_audit_id"))
		for _, key := range []string{"note_id", "tag_id"} {
			q = strings.ReplaceAll(q, "{meta:"+key+"}", s.d.jsonField("a.metadata", key))
		}
		for _, col := range []string{"a.timestamp", "created_at"} {
			q = strings.ReplaceAll(q, "{epochbucket:"+col+"}", "("+s.d.epoch(col)+" / 900 * 900)")
		}
		q = strings.ReplaceAll(q, "{epoch:bucket}", "("+s.d.epoch("bucket")+")")
		for _, col := range []string{"approved_at", "rejected_at"} {
			q = strings.ReplaceAll(q, "{bucket:"+col+"}", s.d.bucket15(col))
			q = strings.ReplaceAll(q, "{seconds:"+col+"}", "("+s.d.secondsBetween("created_at", col)+")")
		}
		// The only parameters are the boolean "resolved = ?" tests.
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = false
		}
		v, err := s.collect(ctx, inv.name, q, args)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	chain, err := s.chainCheck(ctx)
	if err != nil {
		return nil, err
	}
	if chain != nil {
		out = append(out, *chain)
	}
	gaps, err := s.DeliveryJobGaps(ctx)
	if err != nil {
		return nil, err
	}
	if len(gaps) > 0 {
		out = append(out, Violation{Invariant: "scheduled and queued deliveries have a live delivery job", Count: int64(len(gaps)), Examples: gaps[:min(5, len(gaps))]})
	}
	if s.Engine == SQLite {
		// PostgreSQL enforces foreign keys itself; SQLite only on connections
		// that enabled them, so check what is stored.
		v, err := s.collect(ctx, "foreign keys hold", `SELECT "table" || ' rowid ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check`, nil)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	return out, nil
}

func (s *Store) collect(ctx context.Context, name, q string, args []any) (*Violation, error) {
	rows, err := s.reads().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", name, err)
	}
	defer rows.Close()
	var v *Violation
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if v == nil {
			v = &Violation{Invariant: name}
		}
		v.Count++
		if len(v.Examples) < 5 {
			v.Examples = append(v.Examples, id)
		}
	}
	return v, rows.Err()
}
