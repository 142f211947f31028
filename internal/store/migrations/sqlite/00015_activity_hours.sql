-- +goose Up
-- Per-UTC-hour sums of activity_buckets, for /analytics in zones whose
-- midnight is not a UTC midnight: each of the range's days is corrected by
-- the stretch between the zone's midnight and the nearest UTC one (5 hours
-- in New York), read as whole hours from here and at most three
-- quarter-hours from activity_buckets, instead of up to 48 quarter-hours.
-- Triggers on activity_buckets keep it exact in the same transaction.
CREATE TABLE activity_hours (
    hour    INTEGER NOT NULL, -- start of the hour, Unix seconds
    action  TEXT NOT NULL,
    persona TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (hour, action, persona)
) WITHOUT ROWID;

INSERT INTO activity_hours (hour, action, persona, n)
SELECT bucket / 3600 * 3600, action, persona, SUM(n) FROM activity_buckets GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE TRIGGER activity_hours_insert AFTER INSERT ON activity_buckets
BEGIN
    INSERT INTO activity_hours (hour, action, persona, n) VALUES (NEW.bucket / 3600 * 3600, NEW.action, NEW.persona, NEW.n)
    ON CONFLICT (hour, action, persona) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_hours_update AFTER UPDATE ON activity_buckets
BEGIN
    UPDATE activity_hours SET n = n - OLD.n
    WHERE hour = OLD.bucket / 3600 * 3600 AND action = OLD.action AND persona = OLD.persona;
    INSERT INTO activity_hours (hour, action, persona, n) VALUES (NEW.bucket / 3600 * 3600, NEW.action, NEW.persona, NEW.n)
    ON CONFLICT (hour, action, persona) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_hours_delete AFTER DELETE ON activity_buckets
BEGIN
    UPDATE activity_hours SET n = n - OLD.n
    WHERE hour = OLD.bucket / 3600 * 3600 AND action = OLD.action AND persona = OLD.persona;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER activity_hours_delete;
DROP TRIGGER activity_hours_update;
DROP TRIGGER activity_hours_insert;
DROP TABLE activity_hours;
