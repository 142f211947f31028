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
-- Triggers keep both exact in the writing transaction, whoever writes.

CREATE TABLE activity_buckets (
    bucket  TEXT NOT NULL, -- start of the interval, in the timestamp format
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (bucket, action, persona)
);

CREATE TABLE operator_buckets (
    bucket      TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    singles     INTEGER NOT NULL,
    PRIMARY KEY (bucket, operator_id, action)
);

INSERT INTO activity_buckets (bucket, action, persona, n)
SELECT substr(a.timestamp, 1, 14) || printf('%02d', CAST(substr(a.timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
    a.action, CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END, COUNT(*)
FROM operator_audit_log a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
GROUP BY 1, 2, 3;

INSERT INTO activity_buckets (bucket, action, persona, n)
SELECT substr(created_at, 1, 14) || printf('%02d', CAST(substr(created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
    'created', '', COUNT(*)
FROM recommendations GROUP BY 1;

INSERT INTO operator_buckets (bucket, operator_id, action, n, singles)
SELECT substr(timestamp, 1, 14) || printf('%02d', CAST(substr(timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
    operator_id, action, COUNT(*), SUM(json_extract(metadata, '$.bulk_id') IS NULL)
FROM operator_audit_log GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE TRIGGER activity_audit_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO activity_buckets (bucket, action, persona, n)
    VALUES (substr(NEW.timestamp, 1, 14) || printf('%02d', CAST(substr(NEW.timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        NEW.action,
        CASE WHEN NEW.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = NEW.recommendation_id), '')
            ELSE '' END,
        1)
    ON CONFLICT (bucket, action, persona) DO UPDATE SET n = n + 1;
    INSERT INTO operator_buckets (bucket, operator_id, action, n, singles)
    VALUES (substr(NEW.timestamp, 1, 14) || printf('%02d', CAST(substr(NEW.timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        NEW.operator_id, NEW.action, 1, json_extract(NEW.metadata, '$.bulk_id') IS NULL)
    ON CONFLICT (bucket, operator_id, action) DO UPDATE SET n = n + 1, singles = singles + excluded.singles;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_audit_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE activity_buckets SET n = n - 1
    WHERE bucket = substr(OLD.timestamp, 1, 14) || printf('%02d', CAST(substr(OLD.timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z'
      AND action = OLD.action
      AND persona = CASE WHEN OLD.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = OLD.recommendation_id), '')
            ELSE '' END;
    UPDATE operator_buckets SET n = n - 1, singles = singles - (json_extract(OLD.metadata, '$.bulk_id') IS NULL)
    WHERE bucket = substr(OLD.timestamp, 1, 14) || printf('%02d', CAST(substr(OLD.timestamp, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z'
      AND operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_recommendation_insert AFTER INSERT ON recommendations
BEGIN
    INSERT INTO activity_buckets (bucket, action, persona, n)
    VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        'created', '', 1)
    ON CONFLICT (bucket, action, persona) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_recommendation_delete AFTER DELETE ON recommendations
BEGIN
    UPDATE activity_buckets SET n = n - 1
    WHERE bucket = substr(OLD.created_at, 1, 14) || printf('%02d', CAST(substr(OLD.created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z'
      AND action = 'created' AND persona = '';
END;
-- +goose StatementEnd

-- Pending items that failed a guardrail (the guardrail_failures alert):
-- counted on this small index instead of reading every pending row.
CREATE INDEX idx_recommendations_pending_failed ON recommendations(created_at) WHERE status = 'pending' AND NOT guardrails_passed;

-- +goose Down
DROP INDEX idx_recommendations_pending_failed;
DROP TRIGGER activity_recommendation_delete;
DROP TRIGGER activity_recommendation_insert;
DROP TRIGGER activity_audit_delete;
DROP TRIGGER activity_audit_insert;
DROP TABLE operator_buckets;
DROP TABLE activity_buckets;
