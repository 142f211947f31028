-- +goose Up
-- Per-UTC-hour sums of activity_buckets, for /analytics in zones whose
-- midnight is not a UTC midnight: each of the range's days is corrected by
-- the stretch between the zone's midnight and the nearest UTC one (5 hours
-- in New York), read as whole hours from here and at most three
-- quarter-hours from activity_buckets, instead of up to 48 quarter-hours.
-- Statement triggers on activity_buckets keep it exact in the same
-- transaction; rows keep their slot and are locked in key order (00003).
CREATE TABLE activity_hours (
    hour    BIGINT NOT NULL, -- start of the hour, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    slot    SMALLINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (hour, action, persona, slot)
);

INSERT INTO activity_hours (hour, action, persona, slot, n)
SELECT bucket / 3600 * 3600, action, persona, slot, SUM(n) FROM activity_buckets GROUP BY 1, 2, 3, 4;

-- Inserted rows add, deleted rows subtract, updated rows add the change.
-- +goose StatementBegin
CREATE FUNCTION activity_hours_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO activity_hours AS c (hour, action, persona, slot, n)
        SELECT bucket / 3600 * 3600, action, persona, slot, SUM(n) FROM new_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO activity_hours AS c (hour, action, persona, slot, n)
        SELECT bucket / 3600 * 3600, action, persona, slot, SUM(n) FROM (
            SELECT bucket, action, persona, slot, n FROM new_rows
            UNION ALL SELECT bucket, action, persona, slot, -n FROM old_rows) x
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO activity_hours AS c (hour, action, persona, slot, n)
        SELECT bucket / 3600 * 3600, action, persona, slot, -SUM(n) FROM old_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, action, persona, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER activity_hours_insert AFTER INSERT ON activity_buckets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_hours_on_change();
CREATE TRIGGER activity_hours_update AFTER UPDATE ON activity_buckets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_hours_on_change();
CREATE TRIGGER activity_hours_delete AFTER DELETE ON activity_buckets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION activity_hours_on_change();

-- +goose Down
DROP TRIGGER activity_hours_delete ON activity_buckets;
DROP TRIGGER activity_hours_update ON activity_buckets;
DROP TRIGGER activity_hours_insert ON activity_buckets;
DROP FUNCTION activity_hours_on_change();
DROP TABLE activity_hours;
