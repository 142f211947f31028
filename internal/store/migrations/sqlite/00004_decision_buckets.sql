-- +goose Up
-- Today's decisions for /stats, pre-added per 15-minute UTC interval and
-- operator. Counting them from the rows cost one index entry and one row
-- read per decision of the day, so a busy day (tens of thousands of
-- approvals) made every dashboard refresh slower than the last. Every real
-- time zone's midnight falls on a 15-minute UTC boundary, so any "today"
-- is a whole number of buckets: at most 100 rows per operator to add up.
-- Triggers keep the buckets exact in the writing transaction, whoever
-- writes. Review time is decision time minus created_at, in seconds.

CREATE TABLE decision_buckets (
    bucket        TEXT NOT NULL, -- start of the interval, in the timestamp format
    operator_id   TEXT NOT NULL,
    approved      INTEGER NOT NULL DEFAULT 0,
    approved_secs REAL NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    rejected_secs REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, operator_id)
);

INSERT INTO decision_buckets (bucket, operator_id, approved, approved_secs, rejected, rejected_secs)
SELECT bucket, operator_id, SUM(a), SUM(a_secs), SUM(r), SUM(r_secs) FROM (
    SELECT substr(approved_at, 1, 14) || printf('%02d', CAST(substr(approved_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z' AS bucket,
        COALESCE(approved_by, '') AS operator_id, 1 AS a,
        unixepoch(approved_at, 'subsec') - unixepoch(created_at, 'subsec') AS a_secs, 0 AS r, 0.0 AS r_secs
    FROM recommendations WHERE approved_at IS NOT NULL
    UNION ALL
    SELECT substr(rejected_at, 1, 14) || printf('%02d', CAST(substr(rejected_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        COALESCE(rejected_by, ''), 0, 0.0, 1, unixepoch(rejected_at, 'subsec') - unixepoch(created_at, 'subsec')
    FROM recommendations WHERE rejected_at IS NOT NULL
) GROUP BY bucket, operator_id;

-- +goose StatementBegin
CREATE TRIGGER decision_buckets_insert AFTER INSERT ON recommendations
WHEN NEW.approved_at IS NOT NULL OR NEW.rejected_at IS NOT NULL
BEGIN
    INSERT INTO decision_buckets (bucket, operator_id, approved, approved_secs)
    SELECT substr(NEW.approved_at, 1, 14) || printf('%02d', CAST(substr(NEW.approved_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        COALESCE(NEW.approved_by, ''), 1, unixepoch(NEW.approved_at, 'subsec') - unixepoch(NEW.created_at, 'subsec')
    WHERE NEW.approved_at IS NOT NULL
    ON CONFLICT (bucket, operator_id) DO UPDATE SET approved = approved + 1, approved_secs = approved_secs + excluded.approved_secs;
    INSERT INTO decision_buckets (bucket, operator_id, rejected, rejected_secs)
    SELECT substr(NEW.rejected_at, 1, 14) || printf('%02d', CAST(substr(NEW.rejected_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        COALESCE(NEW.rejected_by, ''), 1, unixepoch(NEW.rejected_at, 'subsec') - unixepoch(NEW.created_at, 'subsec')
    WHERE NEW.rejected_at IS NOT NULL
    ON CONFLICT (bucket, operator_id) DO UPDATE SET rejected = rejected + 1, rejected_secs = rejected_secs + excluded.rejected_secs;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER decision_buckets_update AFTER UPDATE OF approved_at, approved_by, rejected_at, rejected_by, created_at ON recommendations
WHEN OLD.approved_at IS NOT NEW.approved_at OR OLD.approved_by IS NOT NEW.approved_by
  OR OLD.rejected_at IS NOT NEW.rejected_at OR OLD.rejected_by IS NOT NEW.rejected_by
  OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE decision_buckets SET approved = approved - 1,
        approved_secs = approved_secs - (unixepoch(OLD.approved_at, 'subsec') - unixepoch(OLD.created_at, 'subsec'))
    WHERE OLD.approved_at IS NOT NULL AND operator_id = COALESCE(OLD.approved_by, '')
      AND bucket = substr(OLD.approved_at, 1, 14) || printf('%02d', CAST(substr(OLD.approved_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z';
    UPDATE decision_buckets SET rejected = rejected - 1,
        rejected_secs = rejected_secs - (unixepoch(OLD.rejected_at, 'subsec') - unixepoch(OLD.created_at, 'subsec'))
    WHERE OLD.rejected_at IS NOT NULL AND operator_id = COALESCE(OLD.rejected_by, '')
      AND bucket = substr(OLD.rejected_at, 1, 14) || printf('%02d', CAST(substr(OLD.rejected_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z';
    INSERT INTO decision_buckets (bucket, operator_id, approved, approved_secs)
    SELECT substr(NEW.approved_at, 1, 14) || printf('%02d', CAST(substr(NEW.approved_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        COALESCE(NEW.approved_by, ''), 1, unixepoch(NEW.approved_at, 'subsec') - unixepoch(NEW.created_at, 'subsec')
    WHERE NEW.approved_at IS NOT NULL
    ON CONFLICT (bucket, operator_id) DO UPDATE SET approved = approved + 1, approved_secs = approved_secs + excluded.approved_secs;
    INSERT INTO decision_buckets (bucket, operator_id, rejected, rejected_secs)
    SELECT substr(NEW.rejected_at, 1, 14) || printf('%02d', CAST(substr(NEW.rejected_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z',
        COALESCE(NEW.rejected_by, ''), 1, unixepoch(NEW.rejected_at, 'subsec') - unixepoch(NEW.created_at, 'subsec')
    WHERE NEW.rejected_at IS NOT NULL
    ON CONFLICT (bucket, operator_id) DO UPDATE SET rejected = rejected + 1, rejected_secs = rejected_secs + excluded.rejected_secs;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER decision_buckets_delete AFTER DELETE ON recommendations
WHEN OLD.approved_at IS NOT NULL OR OLD.rejected_at IS NOT NULL
BEGIN
    UPDATE decision_buckets SET approved = approved - 1,
        approved_secs = approved_secs - (unixepoch(OLD.approved_at, 'subsec') - unixepoch(OLD.created_at, 'subsec'))
    WHERE OLD.approved_at IS NOT NULL AND operator_id = COALESCE(OLD.approved_by, '')
      AND bucket = substr(OLD.approved_at, 1, 14) || printf('%02d', CAST(substr(OLD.approved_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z';
    UPDATE decision_buckets SET rejected = rejected - 1,
        rejected_secs = rejected_secs - (unixepoch(OLD.rejected_at, 'subsec') - unixepoch(OLD.created_at, 'subsec'))
    WHERE OLD.rejected_at IS NOT NULL AND operator_id = COALESCE(OLD.rejected_by, '')
      AND bucket = substr(OLD.rejected_at, 1, 14) || printf('%02d', CAST(substr(OLD.rejected_at, 15, 2) AS INTEGER) / 15 * 15) || ':00.000000Z';
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER decision_buckets_delete;
DROP TRIGGER decision_buckets_update;
DROP TRIGGER decision_buckets_insert;
DROP TABLE decision_buckets;
