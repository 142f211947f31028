-- +goose Up
-- Counters that the dashboard stats and the audit-log totals read instead of
-- counting index entries: at a million recommendations COUNT(*) over the
-- pending ones or over one action's audit rows took tens of milliseconds
-- and made those the slowest requests of the API. Statement-level triggers
-- keep them exact in the writing transaction, whoever writes (the store,
-- the seed's COPY, a hand-written fix), one counter update per statement.
--
-- Every counter is split into 16 slots, the writing backend's pid picking
-- one, and readers add the slots up: with a single row per status every
-- concurrent approval in every process would queue for that row's lock
-- until commit. Within a statement the slot rows are locked in key order,
-- and every transaction changes recommendations before it writes audit
-- rows, so two transactions sharing a slot wait for each other but never
-- deadlock.

CREATE TABLE recommendation_status_counts (
    status TEXT NOT NULL,
    slot   SMALLINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (status, slot)
);
INSERT INTO recommendation_status_counts (status, slot, n)
SELECT status, 0, COUNT(*) FROM recommendations GROUP BY status;

-- +goose StatementBegin
CREATE FUNCTION recommendation_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recommendation_status_counts AS c (status, slot, n)
    SELECT status, pg_backend_pid() % 16, COUNT(*) FROM new_rows GROUP BY status ORDER BY status
    ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION recommendation_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recommendation_status_counts AS c (status, slot, n)
    SELECT status, pg_backend_pid() % 16, SUM(d) FROM (
        SELECT status, -1 AS d FROM old_rows
        UNION ALL
        SELECT status, 1 AS d FROM new_rows
    ) changes
    GROUP BY status HAVING SUM(d) <> 0 ORDER BY status
    ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION recommendation_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recommendation_status_counts AS c (status, slot, n)
    SELECT status, pg_backend_pid() % 16, -COUNT(*) FROM old_rows GROUP BY status ORDER BY status
    ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER recommendations_count_insert AFTER INSERT ON recommendations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION recommendation_counts_on_insert();
CREATE TRIGGER recommendations_count_update AFTER UPDATE ON recommendations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION recommendation_counts_on_update();
CREATE TRIGGER recommendations_count_delete AFTER DELETE ON recommendations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION recommendation_counts_on_delete();

-- Audit rows per operator and action (rows are never updated).
CREATE TABLE audit_counts (
    operator_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    slot        SMALLINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (operator_id, action, slot)
);
INSERT INTO audit_counts (operator_id, action, slot, n)
SELECT operator_id, action, 0, COUNT(*) FROM operator_audit_log GROUP BY operator_id, action;

-- +goose StatementBegin
CREATE FUNCTION audit_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_counts AS c (operator_id, action, slot, n)
    SELECT operator_id, action, pg_backend_pid() % 16, COUNT(*) FROM new_rows
    GROUP BY operator_id, action ORDER BY operator_id, action
    ON CONFLICT (operator_id, action, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_counts AS c (operator_id, action, slot, n)
    SELECT operator_id, action, pg_backend_pid() % 16, -COUNT(*) FROM old_rows
    GROUP BY operator_id, action ORDER BY operator_id, action
    ON CONFLICT (operator_id, action, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_count_insert AFTER INSERT ON operator_audit_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_counts_on_insert();
CREATE TRIGGER audit_count_delete AFTER DELETE ON operator_audit_log
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_counts_on_delete();

-- +goose Down
DROP TRIGGER audit_count_delete ON operator_audit_log;
DROP TRIGGER audit_count_insert ON operator_audit_log;
DROP FUNCTION audit_counts_on_delete();
DROP FUNCTION audit_counts_on_insert();
DROP TABLE audit_counts;
DROP TRIGGER recommendations_count_delete ON recommendations;
DROP TRIGGER recommendations_count_update ON recommendations;
DROP TRIGGER recommendations_count_insert ON recommendations;
DROP FUNCTION recommendation_counts_on_delete();
DROP FUNCTION recommendation_counts_on_update();
DROP FUNCTION recommendation_counts_on_insert();
DROP TABLE recommendation_status_counts;
