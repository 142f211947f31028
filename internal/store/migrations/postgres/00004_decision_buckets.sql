-- +goose Up
-- Today's decisions for /stats, pre-added per 15-minute UTC interval and
-- operator. Counting them from the rows cost one index entry and one row
-- read per decision of the day, so a busy day (tens of thousands of
-- approvals) made every dashboard refresh slower than the last. Every real
-- time zone's midnight falls on a 15-minute UTC boundary, so any "today"
-- is a whole number of buckets. Statement triggers keep the buckets exact in
-- the writing transaction, whoever writes; rows are split in 16 slots by
-- backend pid like the counters of 00003, and locked in key order. Review
-- time is decision time minus created_at, in seconds.

CREATE TABLE decision_buckets (
    bucket        TIMESTAMPTZ NOT NULL, -- start of the interval
    operator_id   TEXT NOT NULL,
    slot          SMALLINT NOT NULL,
    approved      BIGINT NOT NULL DEFAULT 0,
    approved_secs DOUBLE PRECISION NOT NULL DEFAULT 0,
    rejected      BIGINT NOT NULL DEFAULT 0,
    rejected_secs DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, operator_id, slot)
);

-- +goose StatementBegin
-- The contributions of a row: k = 1 adds them, -1 takes them away.
CREATE FUNCTION decision_bucket_rows(k INTEGER, approved_at TIMESTAMPTZ, approved_by TEXT,
    rejected_at TIMESTAMPTZ, rejected_by TEXT, created_at TIMESTAMPTZ)
RETURNS TABLE (bucket TIMESTAMPTZ, operator_id TEXT, approved BIGINT, approved_secs DOUBLE PRECISION,
    rejected BIGINT, rejected_secs DOUBLE PRECISION)
LANGUAGE sql STABLE AS $$
    SELECT date_bin('15 minutes', approved_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), COALESCE(approved_by, ''),
        k::BIGINT, k * EXTRACT(EPOCH FROM approved_at - created_at)::DOUBLE PRECISION, 0::BIGINT, 0::DOUBLE PRECISION
    WHERE approved_at IS NOT NULL
    UNION ALL
    SELECT date_bin('15 minutes', rejected_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), COALESCE(rejected_by, ''),
        0::BIGINT, 0::DOUBLE PRECISION, k::BIGINT, k * EXTRACT(EPOCH FROM rejected_at - created_at)::DOUBLE PRECISION
    WHERE rejected_at IS NOT NULL
$$;
-- +goose StatementEnd

INSERT INTO decision_buckets (bucket, operator_id, slot, approved, approved_secs, rejected, rejected_secs)
SELECT c.bucket, c.operator_id, 0, SUM(c.approved), SUM(c.approved_secs), SUM(c.rejected), SUM(c.rejected_secs)
FROM recommendations r, decision_bucket_rows(1, r.approved_at, r.approved_by, r.rejected_at, r.rejected_by, r.created_at) c
GROUP BY c.bucket, c.operator_id;

-- +goose StatementBegin
CREATE FUNCTION decision_buckets_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decision_buckets AS b (bucket, operator_id, slot, approved, approved_secs, rejected, rejected_secs)
    SELECT c.bucket, c.operator_id, pg_backend_pid() % 16, SUM(c.approved), SUM(c.approved_secs), SUM(c.rejected), SUM(c.rejected_secs)
    FROM new_rows r, decision_bucket_rows(1, r.approved_at, r.approved_by, r.rejected_at, r.rejected_by, r.created_at) c
    GROUP BY c.bucket, c.operator_id ORDER BY c.bucket, c.operator_id
    ON CONFLICT (bucket, operator_id, slot) DO UPDATE SET approved = b.approved + EXCLUDED.approved,
        approved_secs = b.approved_secs + EXCLUDED.approved_secs, rejected = b.rejected + EXCLUDED.rejected,
        rejected_secs = b.rejected_secs + EXCLUDED.rejected_secs;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION decision_buckets_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decision_buckets AS b (bucket, operator_id, slot, approved, approved_secs, rejected, rejected_secs)
    SELECT c.bucket, c.operator_id, pg_backend_pid() % 16, SUM(c.approved), SUM(c.approved_secs), SUM(c.rejected), SUM(c.rejected_secs)
    FROM old_rows o JOIN new_rows n ON n.recommendation_id = o.recommendation_id,
    LATERAL (
        SELECT * FROM decision_bucket_rows(-1, o.approved_at, o.approved_by, o.rejected_at, o.rejected_by, o.created_at)
        UNION ALL
        SELECT * FROM decision_bucket_rows(1, n.approved_at, n.approved_by, n.rejected_at, n.rejected_by, n.created_at)
    ) c
    WHERE o.approved_at IS DISTINCT FROM n.approved_at OR o.approved_by IS DISTINCT FROM n.approved_by
       OR o.rejected_at IS DISTINCT FROM n.rejected_at OR o.rejected_by IS DISTINCT FROM n.rejected_by
       OR o.created_at IS DISTINCT FROM n.created_at
    GROUP BY c.bucket, c.operator_id ORDER BY c.bucket, c.operator_id
    ON CONFLICT (bucket, operator_id, slot) DO UPDATE SET approved = b.approved + EXCLUDED.approved,
        approved_secs = b.approved_secs + EXCLUDED.approved_secs, rejected = b.rejected + EXCLUDED.rejected,
        rejected_secs = b.rejected_secs + EXCLUDED.rejected_secs;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION decision_buckets_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decision_buckets AS b (bucket, operator_id, slot, approved, approved_secs, rejected, rejected_secs)
    SELECT c.bucket, c.operator_id, pg_backend_pid() % 16, SUM(c.approved), SUM(c.approved_secs), SUM(c.rejected), SUM(c.rejected_secs)
    FROM old_rows r, decision_bucket_rows(-1, r.approved_at, r.approved_by, r.rejected_at, r.rejected_by, r.created_at) c
    GROUP BY c.bucket, c.operator_id ORDER BY c.bucket, c.operator_id
    ON CONFLICT (bucket, operator_id, slot) DO UPDATE SET approved = b.approved + EXCLUDED.approved,
        approved_secs = b.approved_secs + EXCLUDED.approved_secs, rejected = b.rejected + EXCLUDED.rejected,
        rejected_secs = b.rejected_secs + EXCLUDED.rejected_secs;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER decision_buckets_insert AFTER INSERT ON recommendations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_buckets_on_insert();
CREATE TRIGGER decision_buckets_update AFTER UPDATE ON recommendations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_buckets_on_update();
CREATE TRIGGER decision_buckets_delete AFTER DELETE ON recommendations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_buckets_on_delete();

-- +goose Down
DROP TRIGGER decision_buckets_delete ON recommendations;
DROP TRIGGER decision_buckets_update ON recommendations;
DROP TRIGGER decision_buckets_insert ON recommendations;
DROP FUNCTION decision_buckets_on_delete();
DROP FUNCTION decision_buckets_on_update();
DROP FUNCTION decision_buckets_on_insert();
DROP FUNCTION decision_bucket_rows(INTEGER, TIMESTAMPTZ, TEXT, TIMESTAMPTZ, TEXT, TIMESTAMPTZ);
DROP TABLE decision_buckets;
