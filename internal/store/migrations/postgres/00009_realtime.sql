-- +goose Up
-- The live stream's log (GET /api/realtime/stream): one row per audit row
-- and per recommendation entering the queue, written by triggers in the
-- writing transaction, whoever writes, so a stream sees exactly what was
-- committed, by any process.
--
-- Order. seq comes from a sequence when the row is inserted, but
-- transactions commit in another order: a reader tailing "seq > last"
-- could pass seq 6 (committed) while seq 5 is still in flight, and never
-- see 5. So each row also records its transaction's id (xid), and readers
-- only take rows whose xid is below the oldest transaction still running
-- (pg_snapshot_xmin of their snapshot): those transactions have all
-- finished, so every row they will ever have is visible, and any row that
-- appears later has an xid at or above that horizon. Read in (xid, seq)
-- order, the log is therefore append-only for a tailing reader: nothing
-- commits behind its position. The price: a row waits for every older
-- writing transaction to finish (milliseconds for actions; a long
-- transaction delays the stream, never reorders it).
--
-- Rows whose own time is more than ten minutes old when written are
-- history being loaded (the seed), not something happening now: no stream
-- is owed them. The rows are pruned after the resume window
-- (SPENDSENSE_REALTIME_RETENTION).
CREATE TABLE stream_events (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid               BIGINT NOT NULL,
    kind              TEXT NOT NULL, -- an audit action, or 'created'
    recommendation_id TEXT,
    operator_id       TEXT,
    user_id           TEXT,
    at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_stream_events_order ON stream_events(xid, seq);
CREATE INDEX idx_stream_events_at ON stream_events(at);

-- +goose StatementBegin
CREATE FUNCTION stream_audit_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stream_events (xid, kind, recommendation_id, operator_id, at)
    SELECT pg_current_xact_id()::text::bigint, action, recommendation_id, operator_id, timestamp
    FROM new_rows WHERE timestamp >= now() - interval '10 minutes'
    ORDER BY timestamp, audit_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION stream_recommendations_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stream_events (xid, kind, recommendation_id, user_id, at)
    SELECT pg_current_xact_id()::text::bigint, 'created', recommendation_id, user_id, created_at
    FROM new_rows WHERE created_at >= now() - interval '10 minutes'
    ORDER BY created_at, recommendation_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER stream_audit_insert AFTER INSERT ON operator_audit_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_audit_on_insert();
CREATE TRIGGER stream_recommendations_insert AFTER INSERT ON recommendations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_recommendations_on_insert();

-- Single-use tickets for EventSource clients, which cannot send headers.
-- Only a hash is stored, so the table holds no usable credential; any
-- process can redeem a ticket another issued.
CREATE TABLE realtime_tickets (
    ticket_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX idx_realtime_tickets_expires ON realtime_tickets(expires_at);

-- +goose Down
DROP TABLE realtime_tickets;
DROP TRIGGER stream_recommendations_insert ON recommendations;
DROP TRIGGER stream_audit_insert ON operator_audit_log;
DROP FUNCTION stream_recommendations_on_insert();
DROP FUNCTION stream_audit_on_insert();
DROP TABLE stream_events;
