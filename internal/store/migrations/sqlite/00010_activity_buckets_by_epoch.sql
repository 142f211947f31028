-- +goose Up
-- activity_buckets and operator_buckets (00007) again, keyed by the
-- interval's start in Unix seconds and, on SQLite, stored in primary-key
-- order (WITHOUT ROWID). /analytics adds up a month of intervals, ~30,000
-- rows at any size: with text keys in a rowid table every row cost an index
-- entry, a table lookup and a date parse (70 ms for a month on a busy
-- machine); now it is one range of the table and integer arithmetic for
-- the day. decision_buckets gets a covering index for the same reason
-- (/analytics' processing time adds up a month of it).
DROP TRIGGER activity_recommendation_delete;
DROP TRIGGER activity_recommendation_insert;
DROP TRIGGER activity_audit_delete;
DROP TRIGGER activity_audit_insert;
DROP TABLE operator_buckets;
DROP TABLE activity_buckets;

CREATE TABLE activity_buckets (
    bucket  INTEGER NOT NULL, -- start of the interval, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (bucket, action, persona)
) WITHOUT ROWID;

CREATE TABLE operator_buckets (
    bucket      INTEGER NOT NULL,
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    singles     INTEGER NOT NULL,
    PRIMARY KEY (bucket, operator_id, action)
) WITHOUT ROWID;

-- Single approvals (no bulk_id) per operator and minute, for the
-- unusual_pattern alert ("dozens of single approvals a minute"): a ring of
-- the last 60 minutes per operator (ring = minute % 60, reset when a new
-- minute comes round), so the table never grows and needs no pruning.
CREATE TABLE single_approval_minutes (
    ring        INTEGER NOT NULL,
    operator_id TEXT NOT NULL,
    minute      INTEGER NOT NULL, -- start of the minute, Unix seconds
    n           INTEGER NOT NULL,
    PRIMARY KEY (ring, operator_id)
) WITHOUT ROWID;

INSERT INTO activity_buckets (bucket, action, persona, n)
SELECT unixepoch(a.timestamp) / 900 * 900,
    a.action, CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END, COUNT(*)
FROM operator_audit_log a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
GROUP BY 1, 2, 3;

INSERT INTO activity_buckets (bucket, action, persona, n)
SELECT unixepoch(created_at) / 900 * 900,
    'created', '', COUNT(*)
FROM recommendations GROUP BY 1;

INSERT INTO operator_buckets (bucket, operator_id, action, n, singles)
SELECT unixepoch(timestamp) / 900 * 900,
    operator_id, action, COUNT(*), SUM(json_extract(metadata, '$.bulk_id') IS NULL)
FROM operator_audit_log GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE TRIGGER activity_audit_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO activity_buckets (bucket, action, persona, n)
    VALUES (unixepoch(NEW.timestamp) / 900 * 900,
        NEW.action,
        CASE WHEN NEW.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = NEW.recommendation_id), '')
            ELSE '' END,
        1)
    ON CONFLICT (bucket, action, persona) DO UPDATE SET n = n + 1;
    INSERT INTO operator_buckets (bucket, operator_id, action, n, singles)
    VALUES (unixepoch(NEW.timestamp) / 900 * 900,
        NEW.operator_id, NEW.action, 1, json_extract(NEW.metadata, '$.bulk_id') IS NULL)
    ON CONFLICT (bucket, operator_id, action) DO UPDATE SET n = n + 1, singles = singles + excluded.singles;
    INSERT INTO single_approval_minutes (ring, operator_id, minute, n)
    SELECT unixepoch(NEW.timestamp) / 60 % 60, NEW.operator_id, unixepoch(NEW.timestamp) / 60 * 60, 1
    WHERE NEW.action = 'approve' AND json_extract(NEW.metadata, '$.bulk_id') IS NULL
    ON CONFLICT (ring, operator_id) DO UPDATE SET
        n = CASE WHEN minute = excluded.minute THEN n + 1 WHEN minute > excluded.minute THEN n ELSE 1 END,
        minute = MAX(minute, excluded.minute);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_audit_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE activity_buckets SET n = n - 1
    WHERE bucket = unixepoch(OLD.timestamp) / 900 * 900
      AND action = OLD.action
      AND persona = CASE WHEN OLD.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = OLD.recommendation_id), '')
            ELSE '' END;
    UPDATE operator_buckets SET n = n - 1, singles = singles - (json_extract(OLD.metadata, '$.bulk_id') IS NULL)
    WHERE bucket = unixepoch(OLD.timestamp) / 900 * 900
      AND operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_recommendation_insert AFTER INSERT ON recommendations
BEGIN
    INSERT INTO activity_buckets (bucket, action, persona, n)
    VALUES (unixepoch(NEW.created_at) / 900 * 900,
        'created', '', 1)
    ON CONFLICT (bucket, action, persona) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_recommendation_delete AFTER DELETE ON recommendations
BEGIN
    UPDATE activity_buckets SET n = n - 1
    WHERE bucket = unixepoch(OLD.created_at) / 900 * 900
      AND action = 'created' AND persona = '';
END;
-- +goose StatementEnd

CREATE INDEX idx_decision_buckets_totals ON decision_buckets(bucket, approved, approved_secs, rejected, rejected_secs);

-- +goose Down
DROP INDEX idx_decision_buckets_totals;
DROP TRIGGER activity_recommendation_delete;
DROP TRIGGER activity_recommendation_insert;
DROP TRIGGER activity_audit_delete;
DROP TRIGGER activity_audit_insert;
DROP TABLE single_approval_minutes;
DROP TABLE operator_buckets;
DROP TABLE activity_buckets;
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

