-- +goose Up
-- Pending items that failed a guardrail, counted for the guardrail_failures
-- alert: counting the entries of idx_recommendations_pending_failed read
-- ~41,000 of them per /alerts at the benchmark's million recommendations,
-- more as the queue grows. Statement triggers keep the count exact in the
-- writing transaction, whoever writes, in 16 slots like the status
-- counters (00003) so that concurrent writers do not queue for one row.
CREATE TABLE pending_guardrail_failures (
    slot SMALLINT NOT NULL PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO pending_guardrail_failures (slot, n)
SELECT 0, COUNT(*) FROM recommendations WHERE status = 'pending' AND NOT guardrails_passed;

-- +goose StatementBegin
CREATE FUNCTION pending_guardrail_failures_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d BIGINT := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        d := d + (SELECT COUNT(*) FROM new_rows WHERE status = 'pending' AND NOT guardrails_passed);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        d := d - (SELECT COUNT(*) FROM old_rows WHERE status = 'pending' AND NOT guardrails_passed);
    END IF;
    IF d <> 0 THEN
        INSERT INTO pending_guardrail_failures AS c (slot, n) VALUES (pg_backend_pid() % 16, d)
        ON CONFLICT (slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER pending_guardrail_failures_insert AFTER INSERT ON recommendations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pending_guardrail_failures_on_change();
CREATE TRIGGER pending_guardrail_failures_update AFTER UPDATE ON recommendations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pending_guardrail_failures_on_change();
CREATE TRIGGER pending_guardrail_failures_delete AFTER DELETE ON recommendations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pending_guardrail_failures_on_change();

-- +goose Down
DROP TRIGGER pending_guardrail_failures_delete ON recommendations;
DROP TRIGGER pending_guardrail_failures_update ON recommendations;
DROP TRIGGER pending_guardrail_failures_insert ON recommendations;
DROP FUNCTION pending_guardrail_failures_on_change();
DROP TABLE pending_guardrail_failures;
