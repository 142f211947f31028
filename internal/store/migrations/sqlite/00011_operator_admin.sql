-- +goose Up
-- Operator administration (the admin API, operators enable|role, the
-- password rule).
--
-- token_epoch counts an operator's password changes and disablings; a token
-- carries the count it was issued at, and one carrying an older count is
-- refused, so a password change ends every token issued before it, to the
-- token. last_login_at is for the admin's list of operators.
ALTER TABLE operators ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN last_login_at TEXT;

-- The audit trail records administration as rows about no recommendation
-- (recommendation_id NULL), with every action of the contract plus
-- operator_edit (a change of an operator's name or e-mail, for which the
-- contract names no action). SQLite cannot alter a CHECK constraint or a
-- NOT NULL, so the table is rebuilt with all its columns, indexes and
-- triggers as the earlier migrations left them.
CREATE TABLE operator_audit_log_new (
    audit_id          TEXT PRIMARY KEY,
    operator_id       TEXT NOT NULL,
    action            TEXT NOT NULL CHECK (action IN ('approve', 'reject', 'modify', 'flag', 'resolve_flag', 'retry_delivery', 'undo', 'note_add', 'note_edit', 'note_delete', 'tag_add', 'tag_remove', 'tag_vocabulary', 'operator_add', 'operator_disable', 'operator_enable', 'operator_role', 'operator_passwd', 'operator_edit')),
    recommendation_id TEXT REFERENCES recommendations(recommendation_id),
    metadata          TEXT NOT NULL DEFAULT '{}',
    timestamp         TEXT NOT NULL,
    prev_hash         TEXT,
    row_hash          TEXT,
    seal_id           INTEGER
);
INSERT INTO operator_audit_log_new (audit_id, operator_id, action, recommendation_id, metadata, timestamp, prev_hash, row_hash, seal_id)
SELECT audit_id, operator_id, action, recommendation_id, metadata, timestamp, prev_hash, row_hash, seal_id FROM operator_audit_log;
DROP TABLE operator_audit_log;
ALTER TABLE operator_audit_log_new RENAME TO operator_audit_log;
CREATE INDEX idx_audit_action ON operator_audit_log(action, timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_operator ON operator_audit_log(operator_id, timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_recommendation ON operator_audit_log(recommendation_id, timestamp DESC);
CREATE INDEX idx_audit_seal ON operator_audit_log(seal_id, audit_id);
CREATE INDEX idx_audit_timestamp ON operator_audit_log(timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_unchained ON operator_audit_log(recommendation_id, timestamp, audit_id) WHERE row_hash IS NULL;

-- +goose StatementBegin
CREATE TRIGGER activity_audit_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE activity_buckets SET n = n - 1
    WHERE bucket = unixepoch(OLD.timestamp) / 900 * 900
      AND action = OLD.action
      AND persona = CASE WHEN OLD.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = OLD.recommendation_id), '')
            ELSE '' END;
    UPDATE operator_buckets SET n = n - 1, singles = singles - (json_extract(OLD.metadata, '$.bulk_id') IS NULL)
    WHERE bucket = unixepoch(OLD.timestamp) / 900 * 900
      AND operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER activity_audit_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO activity_buckets (bucket, action, persona, n)
    VALUES (unixepoch(NEW.timestamp) / 900 * 900,
        NEW.action,
        CASE WHEN NEW.action IN ('approve', 'reject')
            THEN COALESCE((SELECT persona_primary FROM recommendations WHERE recommendation_id = NEW.recommendation_id), '')
            ELSE '' END,
        1)
    ON CONFLICT (bucket, action, persona) DO UPDATE SET n = n + 1;
    INSERT INTO operator_buckets (bucket, operator_id, action, n, singles)
    VALUES (unixepoch(NEW.timestamp) / 900 * 900,
        NEW.operator_id, NEW.action, 1, json_extract(NEW.metadata, '$.bulk_id') IS NULL)
    ON CONFLICT (bucket, operator_id, action) DO UPDATE SET n = n + 1, singles = singles + excluded.singles;
    INSERT INTO single_approval_minutes (ring, operator_id, minute, n)
    SELECT unixepoch(NEW.timestamp) / 60 % 60, NEW.operator_id, unixepoch(NEW.timestamp) / 60 * 60, 1
    WHERE NEW.action = 'approve' AND json_extract(NEW.metadata, '$.bulk_id') IS NULL
    ON CONFLICT (ring, operator_id) DO UPDATE SET
        n = CASE WHEN minute = excluded.minute THEN n + 1 WHEN minute > excluded.minute THEN n ELSE 1 END,
        minute = MAX(minute, excluded.minute);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_count_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE audit_counts SET n = n - 1 WHERE operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_count_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO audit_counts (operator_id, action, n) VALUES (NEW.operator_id, NEW.action, 1)
    ON CONFLICT (operator_id, action) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_day_count_delete AFTER DELETE ON operator_audit_log
BEGIN
    UPDATE audit_day_counts SET n = n - 1
    WHERE day = substr(OLD.timestamp, 1, 10) || 'T00:00:00.000000Z' AND operator_id = OLD.operator_id AND action = OLD.action;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_day_count_insert AFTER INSERT ON operator_audit_log
BEGIN
    INSERT INTO audit_day_counts (day, operator_id, action, n)
    VALUES (substr(NEW.timestamp, 1, 10) || 'T00:00:00.000000Z', NEW.operator_id, NEW.action, 1)
    ON CONFLICT (day, operator_id, action) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stream_audit_insert AFTER INSERT ON operator_audit_log
WHEN NEW.timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes')
BEGIN
    INSERT INTO stream_events (kind, recommendation_id, operator_id, at)
    VALUES (NEW.action, NEW.recommendation_id, NEW.operator_id, NEW.timestamp);
END;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE operators DROP COLUMN last_login_at;
ALTER TABLE operators DROP COLUMN token_epoch;
