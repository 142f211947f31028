-- +goose Up
-- Per-UTC-day sums of activity_buckets and decision_buckets, for
-- /analytics: a 30-day range added up ~40,000 quarter-hour rows at the
-- benchmark's million recommendations (more here: 16 slots), a 366-day
-- range of real history twelve times that. With these a range is its UTC
-- days plus, at each day boundary of the requested zone, the quarter-hours
-- between it and the nearest UTC midnight (at most 12 hours). Statement
-- triggers on the quarter-hour tables keep them exact in the same
-- transaction, whichever trigger or statement wrote the quarter-hour rows;
-- each day row keeps the slot of the rows it adds up, and rows are locked
-- in key order, as for the other counters (00003).
CREATE TABLE activity_days (
    day     BIGINT NOT NULL, -- midnight UTC, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    slot    SMALLINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, action, persona, slot)
);

CREATE TABLE decision_days (
    day           BIGINT NOT NULL, -- midnight UTC, Unix seconds
    slot          SMALLINT NOT NULL,
    approved      BIGINT NOT NULL,
    approved_secs DOUBLE PRECISION NOT NULL,
    rejected      BIGINT NOT NULL,
    rejected_secs DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (day, slot)
);

INSERT INTO activity_days (day, action, persona, slot, n)
SELECT bucket / 86400 * 86400, action, persona, slot, SUM(n) FROM activity_buckets GROUP BY 1, 2, 3, 4;

INSERT INTO decision_days (day, slot, approved, approved_secs, rejected, rejected_secs)
SELECT (FLOOR(EXTRACT(EPOCH FROM bucket) / 86400) * 86400)::BIGINT, slot,
    SUM(approved), SUM(approved_secs), SUM(rejected), SUM(rejected_secs)
FROM decision_buckets GROUP BY 1, 2;

-- Inserted rows add, deleted rows subtract, updated rows add the change.
-- +goose StatementBegin
CREATE FUNCTION activity_days_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO activity_days AS c (day, action, persona, slot, n)
        SELECT bucket / 86400 * 86400, action, persona, slot, SUM(n) FROM new_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO activity_days AS c (day, action, persona, slot, n)
        SELECT bucket / 86400 * 86400, action, persona, slot, SUM(n) FROM (
            SELECT bucket, action, persona, slot, n FROM new_rows
            UNION ALL SELECT bucket, action, persona, slot, -n FROM old_rows) x
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO activity_days AS c (day, action, persona, slot, n)
        SELECT bucket / 86400 * 86400, action, persona, slot, -SUM(n) FROM old_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION decision_days_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO decision_days AS c (day, slot, approved, approved_secs, rejected, rejected_secs)
        SELECT (FLOOR(EXTRACT(EPOCH FROM bucket) / 86400) * 86400)::BIGINT, slot,
            SUM(approved), SUM(approved_secs), SUM(rejected), SUM(rejected_secs) FROM new_rows
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, slot) DO UPDATE SET approved = c.approved + EXCLUDED.approved, approved_secs = c.approved_secs + EXCLUDED.approved_secs,
            rejected = c.rejected + EXCLUDED.rejected, rejected_secs = c.rejected_secs + EXCLUDED.rejected_secs;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO decision_days AS c (day, slot, approved, approved_secs, rejected, rejected_secs)
        SELECT (FLOOR(EXTRACT(EPOCH FROM bucket) / 86400) * 86400)::BIGINT, slot,
            SUM(approved), SUM(approved_secs), SUM(rejected), SUM(rejected_secs) FROM (
            SELECT bucket, slot, approved, approved_secs, rejected, rejected_secs FROM new_rows
            UNION ALL SELECT bucket, slot, -approved, -approved_secs, -rejected, -rejected_secs FROM old_rows) x
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, slot) DO UPDATE SET approved = c.approved + EXCLUDED.approved, approved_secs = c.approved_secs + EXCLUDED.approved_secs,
            rejected = c.rejected + EXCLUDED.rejected, rejected_secs = c.rejected_secs + EXCLUDED.rejected_secs;
    ELSE
        INSERT INTO decision_days AS c (day, slot, approved, approved_secs, rejected, rejected_secs)
        SELECT (FLOOR(EXTRACT(EPOCH FROM bucket) / 86400) * 86400)::BIGINT, slot,
            -SUM(approved), -SUM(approved_secs), -SUM(rejected), -SUM(rejected_secs) FROM old_rows
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, slot) DO UPDATE SET approved = c.approved + EXCLUDED.approved, approved_secs = c.approved_secs + EXCLUDED.approved_secs,
            rejected = c.rejected + EXCLUDED.rejected, rejected_secs = c.rejected_secs + EXCLUDED.rejected_secs;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- One trigger per event: a trigger with transition tables may have only
-- one (an upsert fires the INSERT one for the rows it inserted and the
-- UPDATE one for those it updated).
CREATE TRIGGER activity_days_insert AFTER INSERT ON activity_buckets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_days_on_change();
CREATE TRIGGER activity_days_update AFTER UPDATE ON activity_buckets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_days_on_change();
CREATE TRIGGER activity_days_delete AFTER DELETE ON activity_buckets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_days_on_change();
CREATE TRIGGER decision_days_insert AFTER INSERT ON decision_buckets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_days_on_change();
CREATE TRIGGER decision_days_update AFTER UPDATE ON decision_buckets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_days_on_change();
CREATE TRIGGER decision_days_delete AFTER DELETE ON decision_buckets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION decision_days_on_change();

-- +goose Down
DROP TRIGGER decision_days_delete ON decision_buckets;
DROP TRIGGER decision_days_update ON decision_buckets;
DROP TRIGGER decision_days_insert ON decision_buckets;
DROP TRIGGER activity_days_delete ON activity_buckets;
DROP TRIGGER activity_days_update ON activity_buckets;
DROP TRIGGER activity_days_insert ON activity_buckets;
DROP FUNCTION decision_days_on_change();
DROP FUNCTION activity_days_on_change();
DROP TABLE decision_days;
DROP TABLE activity_days;
