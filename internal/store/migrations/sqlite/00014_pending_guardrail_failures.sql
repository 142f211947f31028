-- +goose Up
-- Pending items that failed a guardrail, counted for the guardrail_failures
-- alert: counting the entries of idx_recommendations_pending_failed read
-- ~41,000 of them per /alerts at the benchmark's million recommendations,
-- more as the queue grows. Triggers keep the count exact in the writing
-- transaction, whoever writes.
CREATE TABLE pending_guardrail_failures (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO pending_guardrail_failures (id, n)
SELECT 1, COUNT(*) FROM recommendations WHERE status = 'pending' AND NOT guardrails_passed;

-- +goose StatementBegin
CREATE TRIGGER pending_guardrail_failures_insert AFTER INSERT ON recommendations
WHEN NEW.status = 'pending' AND NOT NEW.guardrails_passed
BEGIN
    UPDATE pending_guardrail_failures SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER pending_guardrail_failures_update AFTER UPDATE OF status, guardrails_passed ON recommendations
WHEN (OLD.status = 'pending' AND NOT OLD.guardrails_passed) IS NOT (NEW.status = 'pending' AND NOT NEW.guardrails_passed)
BEGIN
    UPDATE pending_guardrail_failures SET n = n + CASE WHEN NEW.status = 'pending' AND NOT NEW.guardrails_passed THEN 1 ELSE -1 END
    WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER pending_guardrail_failures_delete AFTER DELETE ON recommendations
WHEN OLD.status = 'pending' AND NOT OLD.guardrails_passed
BEGIN
    UPDATE pending_guardrail_failures SET n = n - 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER pending_guardrail_failures_delete;
DROP TRIGGER pending_guardrail_failures_update;
DROP TRIGGER pending_guardrail_failures_insert;
DROP TABLE pending_guardrail_failures;
