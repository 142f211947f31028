-- +goose Up
-- Per-UTC-day sums of activity_buckets and decision_buckets, for
-- /analytics: a 30-day range added up ~40,000 quarter-hour rows at the
-- benchmark's million recommendations (most of a request's time), a
-- 366-day range of real history twelve times that. With these a range is
-- its UTC days plus, at each day boundary of the requested zone, the
-- quarter-hours between it and the nearest UTC midnight (at most 12 hours).
-- Triggers on the quarter-hour tables keep them exact in the same
-- transaction, whichever trigger or statement wrote the quarter-hour row.
CREATE TABLE activity_days (
    day     INTEGER NOT NULL, -- midnight UTC, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (day, action, persona)
) WITHOUT ROWID;

CREATE TABLE decision_days (
    day           INTEGER NOT NULL PRIMARY KEY, -- midnight UTC, Unix seconds
    approved      INTEGER NOT NULL,
    approved_secs REAL NOT NULL,
    rejected      INTEGER NOT NULL,
    rejected_secs REAL NOT NULL
) WITHOUT ROWID;

INSERT INTO activity_days (day, action, persona, n)
SELECT bucket / 86400 * 86400, action, persona, SUM(n) FROM activity_buckets GROUP BY 1, 2, 3;

INSERT INTO decision_days (day, approved, approved_secs, rejected, rejected_secs)
SELECT unixepoch(bucket) / 86400 * 86400, SUM(approved), SUM(approved_secs), SUM(rejected), SUM(rejected_secs)
FROM decision_buckets GROUP BY 1;

-- +goose StatementBegin
CREATE TRIGGER activity_days_insert AFTER INSERT ON activity_buckets
BEGIN
    INSERT INTO activity_days (day, action, persona, n) VALUES (NEW.bucket / 86400 * 86400, NEW.action, NEW.persona, NEW.n)
    ON CONFLICT (day, action, persona) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_days_update AFTER UPDATE ON activity_buckets
BEGIN
    UPDATE activity_days SET n = n - OLD.n
    WHERE day = OLD.bucket / 86400 * 86400 AND action = OLD.action AND persona = OLD.persona;
    INSERT INTO activity_days (day, action, persona, n) VALUES (NEW.bucket / 86400 * 86400, NEW.action, NEW.persona, NEW.n)
    ON CONFLICT (day, action, persona) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_days_delete AFTER DELETE ON activity_buckets
BEGIN
    UPDATE activity_days SET n = n - OLD.n
    WHERE day = OLD.bucket / 86400 * 86400 AND action = OLD.action AND persona = OLD.persona;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER decision_days_insert AFTER INSERT ON decision_buckets
BEGIN
    INSERT INTO decision_days (day, approved, approved_secs, rejected, rejected_secs)
    VALUES (unixepoch(NEW.bucket) / 86400 * 86400, NEW.approved, NEW.approved_secs, NEW.rejected, NEW.rejected_secs)
    ON CONFLICT (day) DO UPDATE SET approved = approved + excluded.approved, approved_secs = approved_secs + excluded.approved_secs,
        rejected = rejected + excluded.rejected, rejected_secs = rejected_secs + excluded.rejected_secs;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER decision_days_update AFTER UPDATE ON decision_buckets
BEGIN
    UPDATE decision_days SET approved = approved - OLD.approved, approved_secs = approved_secs - OLD.approved_secs,
        rejected = rejected - OLD.rejected, rejected_secs = rejected_secs - OLD.rejected_secs
    WHERE day = unixepoch(OLD.bucket) / 86400 * 86400;
    INSERT INTO decision_days (day, approved, approved_secs, rejected, rejected_secs)
    VALUES (unixepoch(NEW.bucket) / 86400 * 86400, NEW.approved, NEW.approved_secs, NEW.rejected, NEW.rejected_secs)
    ON CONFLICT (day) DO UPDATE SET approved = approved + excluded.approved, approved_secs = approved_secs + excluded.approved_secs,
        rejected = rejected + excluded.rejected, rejected_secs = rejected_secs + excluded.rejected_secs;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER decision_days_delete AFTER DELETE ON decision_buckets
BEGIN
    UPDATE decision_days SET approved = approved - OLD.approved, approved_secs = approved_secs - OLD.approved_secs,
        rejected = rejected - OLD.rejected, rejected_secs = rejected_secs - OLD.rejected_secs
    WHERE day = unixepoch(OLD.bucket) / 86400 * 86400;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER decision_days_delete;
DROP TRIGGER decision_days_update;
DROP TRIGGER decision_days_insert;
DROP TRIGGER activity_days_delete;
DROP TRIGGER activity_days_update;
DROP TRIGGER activity_days_insert;
DROP TABLE decision_days;
DROP TABLE activity_days;
