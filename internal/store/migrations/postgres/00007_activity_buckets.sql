-- +goose Up
-- Counters for /alerts and /analytics, per 15-minute UTC interval like
-- decision_buckets (every real time zone's midnight falls on one of their
-- boundaries, so any day in any zone is a whole number of them). Adding
-- up index entries or rows instead grew with the history: a 30-day range
-- at a million recommendations is ~700,000 audit rows.
--
-- activity_buckets: audit rows by action, and 'created' for recommendations
-- entering the queue; approvals and rejections also by the item's primary
-- persona ('' otherwise), for approval_by_persona.
-- operator_buckets: audit rows by operator and action; singles counts
-- those without a bulk_id (one click each), which is what unusual_pattern
-- watches: a bulk approval of 500 is one decision, 500 single approvals in
-- a minute are not read.
-- Statement triggers keep both exact in the writing transaction, whoever
-- writes; rows are split in 16 slots by backend pid and locked in key
-- order, as in 00003.

CREATE TABLE activity_buckets (
    bucket  TIMESTAMPTZ NOT NULL,
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    slot    SMALLINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (bucket, action, persona, slot)
);

CREATE TABLE operator_buckets (
    bucket      TIMESTAMPTZ NOT NULL,
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    slot        SMALLINT NOT NULL,
    n           BIGINT NOT NULL,
    singles     BIGINT NOT NULL,
    PRIMARY KEY (bucket, operator_id, action, slot)
);

INSERT INTO activity_buckets (bucket, action, persona, slot, n)
SELECT date_bin('15 minutes', a.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), a.action,
    CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END, 0, COUNT(*)
FROM operator_audit_log a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
GROUP BY 1, 2, 3;

INSERT INTO activity_buckets (bucket, action, persona, slot, n)
SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'created', '', 0, COUNT(*)
FROM recommendations GROUP BY 1;

INSERT INTO operator_buckets (bucket, operator_id, action, slot, n, singles)
SELECT date_bin('15 minutes', timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), operator_id, action, 0,
    COUNT(*), COUNT(*) FILTER (WHERE metadata->>'bulk_id' IS NULL)
FROM operator_audit_log GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE FUNCTION activity_audit_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT date_bin('15 minutes', a.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), a.action,
        CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END,
        pg_backend_pid() % 16, COUNT(*)
    FROM new_rows a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO operator_buckets AS c (bucket, operator_id, action, slot, n, singles)
    SELECT date_bin('15 minutes', a.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), a.operator_id, a.action,
        pg_backend_pid() % 16, COUNT(*), COUNT(*) FILTER (WHERE a.metadata->>'bulk_id' IS NULL)
    FROM new_rows a GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, operator_id, action, slot) DO UPDATE SET n = c.n + EXCLUDED.n, singles = c.singles + EXCLUDED.singles;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION activity_audit_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT date_bin('15 minutes', a.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), a.action,
        CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END,
        pg_backend_pid() % 16, -COUNT(*)
    FROM old_rows a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO operator_buckets AS c (bucket, operator_id, action, slot, n, singles)
    SELECT date_bin('15 minutes', a.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'), a.operator_id, a.action,
        pg_backend_pid() % 16, -COUNT(*), -COUNT(*) FILTER (WHERE a.metadata->>'bulk_id' IS NULL)
    FROM old_rows a GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, operator_id, action, slot) DO UPDATE SET n = c.n + EXCLUDED.n, singles = c.singles + EXCLUDED.singles;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION activity_recommendations_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'created', '', pg_backend_pid() % 16, COUNT(*)
    FROM new_rows GROUP BY 1 ORDER BY 1
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION activity_recommendations_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'created', '', pg_backend_pid() % 16, -COUNT(*)
    FROM old_rows GROUP BY 1 ORDER BY 1
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER activity_audit_insert AFTER INSERT ON operator_audit_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_audit_on_insert();
CREATE TRIGGER activity_audit_delete AFTER DELETE ON operator_audit_log
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_audit_on_delete();
CREATE TRIGGER activity_recommendations_insert AFTER INSERT ON recommendations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_recommendations_on_insert();
CREATE TRIGGER activity_recommendations_delete AFTER DELETE ON recommendations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_recommendations_on_delete();

-- Pending items that failed a guardrail (the guardrail_failures alert):
-- counted on this small index instead of reading every pending row.
CREATE INDEX idx_recommendations_pending_failed ON recommendations(created_at) WHERE status = 'pending' AND NOT guardrails_passed;

-- +goose Down
DROP INDEX idx_recommendations_pending_failed;
DROP TRIGGER activity_recommendations_delete ON recommendations;
DROP TRIGGER activity_recommendations_insert ON recommendations;
DROP TRIGGER activity_audit_delete ON operator_audit_log;
DROP TRIGGER activity_audit_insert ON operator_audit_log;
DROP FUNCTION activity_recommendations_on_delete();
DROP FUNCTION activity_recommendations_on_insert();
DROP FUNCTION activity_audit_on_delete();
DROP FUNCTION activity_audit_on_insert();
DROP TABLE operator_buckets;
DROP TABLE activity_buckets;
