-- +goose Up
-- Counters that the dashboard stats and the audit-log totals read instead of
-- counting index entries: at a million recommendations COUNT(*) over the
-- pending ones or over one action's audit rows took tens of milliseconds
-- and made those the slowest requests of the API. Triggers keep the
-- counters exact in the writing transaction, whoever writes (the store,
-- the seed, a hand-written fix).

CREATE TABLE recommendation_status_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO recommendation_status_counts (status, n)
SELECT s.status, (SELECT COUNT(*) FROM recommendations r WHERE r.status = s.status)
FROM (SELECT 'pending' AS status UNION ALL SELECT 'approved' UNION ALL SELECT 'rejected' UNION ALL SELECT 'flagged') s;

-- +goose StatementBegin
CREATE TRIGGER recommendations_count_insert AFTER INSERT ON recommendations
BEGIN
    UPDATE recommendation_status_counts SET n = n + 1 WHERE status = NEW.status;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER recommendations_count_update AFTER UPDATE OF status ON recommendations
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE recommendation_status_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE recommendation_status_counts SET n = n + 1 WHERE status = NEW.status;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER recommendations_count_delete AFTER DELETE ON recommendations
BEGIN
    UPDATE recommendation_status_counts SET n = n - 1 WHERE status = OLD.status;
END;
-- +goose StatementEnd

-- Audit rows per operator and action (rows are never updated).
CREATE TABLE audit_counts (
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (operator_id, action)
);
INSERT INTO audit_counts (operator_id, action, n)
SELECT operator_id, action, COUNT(*) FROM operator_audit_log GROUP BY operator_id, action;

-- +goose StatementBegin
CREATE TRIGGER audit_count_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO audit_counts (operator_id, action, n) VALUES (NEW.operator_id, NEW.action, 1)
    ON CONFLICT (operator_id, action) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_count_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE audit_counts SET n = n - 1 WHERE operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_count_delete;
DROP TRIGGER audit_count_insert;
DROP TABLE audit_counts;
DROP TRIGGER recommendations_count_delete;
DROP TRIGGER recommendations_count_update;
DROP TRIGGER recommendations_count_insert;
DROP TABLE recommendation_status_counts;
