-- +goose Up
-- The live stream's log (GET /api/realtime/stream): one row per audit row
-- and per recommendation entering the queue, written by triggers in the
-- writing transaction, whoever writes, so a stream sees exactly what was
-- committed, by any process. seq orders it: SQLite has one writer and
-- assigns seq under its lock, so commit order is seq order and a reader
-- tailing "seq > last" never skips a row (AUTOINCREMENT: pruning the
-- oldest rows never lets a number come back). xid is PostgreSQL's
-- (00009 there) and always 0 here.
--
-- Rows whose own time is more than ten minutes old when written are
-- history being loaded (the seed), not something happening now: no stream
-- is owed them. The rows are pruned after the resume window
-- (SPENDSENSE_REALTIME_RETENTION).
CREATE TABLE stream_events (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    xid               INTEGER NOT NULL DEFAULT 0,
    kind              TEXT NOT NULL, -- an audit action, or 'created'
    recommendation_id TEXT,
    operator_id       TEXT,
    user_id           TEXT,
    at                TEXT NOT NULL
);
CREATE INDEX idx_stream_events_at ON stream_events(at);

-- +goose StatementBegin
CREATE TRIGGER stream_audit_insert AFTER INSERT ON operator_audit_log
WHEN NEW.timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes')
BEGIN
    INSERT INTO stream_events (kind, recommendation_id, operator_id, at)
    VALUES (NEW.action, NEW.recommendation_id, NEW.operator_id, NEW.timestamp);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stream_recommendation_insert AFTER INSERT ON recommendations
WHEN NEW.created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes')
BEGIN
    INSERT INTO stream_events (kind, recommendation_id, user_id, at)
    VALUES ('created', NEW.recommendation_id, NEW.user_id, NEW.created_at);
END;
-- +goose StatementEnd

-- Single-use tickets for EventSource clients, which cannot send headers.
-- Only a hash is stored, so the table holds no usable credential; any
-- process can redeem a ticket another issued.
CREATE TABLE realtime_tickets (
    ticket_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX idx_realtime_tickets_expires ON realtime_tickets(expires_at);

-- +goose Down
DROP TABLE realtime_tickets;
DROP TRIGGER stream_recommendation_insert;
DROP TRIGGER stream_audit_insert;
DROP TABLE stream_events;
