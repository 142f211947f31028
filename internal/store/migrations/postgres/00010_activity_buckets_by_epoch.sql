-- +goose Up
-- activity_buckets and operator_buckets (00007) again, keyed by the
-- interval's start in Unix seconds: /analytics adds up a month of
-- intervals, ~30,000 rows at any size, and works out each one's day in
-- integer arithmetic instead of from a timestamp. decision_buckets gets a
-- covering index for the same reason (/analytics' processing time adds up
-- a month of it).
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

CREATE TABLE activity_buckets (
    bucket  BIGINT NOT NULL, -- start of the interval, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    slot    SMALLINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (bucket, action, persona, slot)
);

CREATE TABLE operator_buckets (
    bucket      BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    slot        SMALLINT NOT NULL,
    n           BIGINT NOT NULL,
    singles     BIGINT NOT NULL,
    PRIMARY KEY (bucket, operator_id, action, slot)
);

-- Single approvals (no bulk_id) per operator and minute, for the
-- unusual_pattern alert ("dozens of single approvals a minute"): a ring of
-- the last 60 minutes per operator (ring = minute % 60, reset when a new
-- minute comes round), so the table never grows and needs no pruning;
-- slotted by backend pid like the other counters.
CREATE TABLE single_approval_minutes (
    ring        SMALLINT NOT NULL,
    operator_id TEXT NOT NULL,
    slot        SMALLINT NOT NULL,
    minute      BIGINT NOT NULL, -- start of the minute, Unix seconds
    n           BIGINT NOT NULL,
    PRIMARY KEY (ring, operator_id, slot)
);

INSERT INTO activity_buckets (bucket, action, persona, slot, n)
SELECT (FLOOR(EXTRACT(EPOCH FROM a.timestamp) / 900) * 900)::BIGINT, a.action,
    CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END, 0, COUNT(*)
FROM operator_audit_log a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
GROUP BY 1, 2, 3;

INSERT INTO activity_buckets (bucket, action, persona, slot, n)
SELECT (FLOOR(EXTRACT(EPOCH FROM created_at) / 900) * 900)::BIGINT, 'created', '', 0, COUNT(*)
FROM recommendations GROUP BY 1;

INSERT INTO operator_buckets (bucket, operator_id, action, slot, n, singles)
SELECT (FLOOR(EXTRACT(EPOCH FROM timestamp) / 900) * 900)::BIGINT, operator_id, action, 0,
    COUNT(*), COUNT(*) FILTER (WHERE metadata->>'bulk_id' IS NULL)
FROM operator_audit_log GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE FUNCTION activity_audit_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT (FLOOR(EXTRACT(EPOCH FROM a.timestamp) / 900) * 900)::BIGINT, a.action,
        CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END,
        pg_backend_pid() % 16, COUNT(*)
    FROM new_rows a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO operator_buckets AS c (bucket, operator_id, action, slot, n, singles)
    SELECT (FLOOR(EXTRACT(EPOCH FROM a.timestamp) / 900) * 900)::BIGINT, a.operator_id, a.action,
        pg_backend_pid() % 16, COUNT(*), COUNT(*) FILTER (WHERE a.metadata->>'bulk_id' IS NULL)
    FROM new_rows a GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, operator_id, action, slot) DO UPDATE SET n = c.n + EXCLUDED.n, singles = c.singles + EXCLUDED.singles;
    -- A statement of history (the seed's COPY) can hold minutes an hour
    -- apart that share a ring slot: only the newest minute of each counts.
    INSERT INTO single_approval_minutes AS c (ring, operator_id, slot, minute, n)
    SELECT DISTINCT ON (m.ring, m.operator_id) m.ring, m.operator_id, pg_backend_pid() % 16, m.minute, m.n FROM (
        SELECT FLOOR(EXTRACT(EPOCH FROM a.timestamp))::BIGINT / 60 % 60 AS ring, a.operator_id,
            FLOOR(EXTRACT(EPOCH FROM a.timestamp))::BIGINT / 60 * 60 AS minute, COUNT(*) AS n
        FROM new_rows a WHERE a.action = 'approve' AND a.metadata->>'bulk_id' IS NULL
        GROUP BY 1, 2, 3) m
    ORDER BY m.ring, m.operator_id, m.minute DESC
    ON CONFLICT (ring, operator_id, slot) DO UPDATE SET
        n = CASE WHEN c.minute = EXCLUDED.minute THEN c.n + EXCLUDED.n WHEN c.minute > EXCLUDED.minute THEN c.n ELSE EXCLUDED.n END,
        minute = GREATEST(c.minute, EXCLUDED.minute);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION activity_audit_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_buckets AS c (bucket, action, persona, slot, n)
    SELECT (FLOOR(EXTRACT(EPOCH FROM a.timestamp) / 900) * 900)::BIGINT, a.action,
        CASE WHEN a.action IN ('approve', 'reject') THEN COALESCE(r.persona_primary, '') ELSE '' END,
        pg_backend_pid() % 16, -COUNT(*)
    FROM old_rows a LEFT JOIN recommendations r ON r.recommendation_id = a.recommendation_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO operator_buckets AS c (bucket, operator_id, action, slot, n, singles)
    SELECT (FLOOR(EXTRACT(EPOCH FROM a.timestamp) / 900) * 900)::BIGINT, a.operator_id, a.action,
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
    SELECT (FLOOR(EXTRACT(EPOCH FROM created_at) / 900) * 900)::BIGINT, 'created', '', pg_backend_pid() % 16, COUNT(*)
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
    SELECT (FLOOR(EXTRACT(EPOCH FROM created_at) / 900) * 900)::BIGINT, 'created', '', pg_backend_pid() % 16, -COUNT(*)
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

CREATE INDEX idx_decision_buckets_totals ON decision_buckets(bucket) INCLUDE (approved, approved_secs, rejected, rejected_secs);

-- +goose Down
DROP INDEX idx_decision_buckets_totals;
DROP TRIGGER activity_recommendations_delete ON recommendations;
DROP TRIGGER activity_recommendations_insert ON recommendations;
DROP TRIGGER activity_audit_delete ON operator_audit_log;
DROP TRIGGER activity_audit_insert ON operator_audit_log;
DROP FUNCTION activity_recommendations_on_delete();
DROP FUNCTION activity_recommendations_on_insert();
DROP FUNCTION activity_audit_on_delete();
DROP FUNCTION activity_audit_on_insert();
DROP TABLE single_approval_minutes;
DROP TABLE operator_buckets;
DROP TABLE activity_buckets;

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

