-- +goose Up
-- The tamper-evident audit trail (docs/RELIABILITY.md, "The audit trail
-- proves itself"). Each audit row carries the hash of the previous row of
-- its subject and its own hash; the subject row keeps the newest hash (its
-- chain head): recommendations for rows about one, operators for
-- administration rows, audit_heads for anything else. Rows written before
-- this migration are chained once by the store right after it (Migrate),
-- in batches that resume where they stopped: idx_audit_unchained finds the
-- rows still without a hash.
ALTER TABLE operator_audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE operator_audit_log ADD COLUMN row_hash TEXT;
-- The seal covering the row, set by the sealing transaction itself, so a
-- row that commits after a seal read the table is sealed by the next one.
ALTER TABLE operator_audit_log ADD COLUMN seal_id INTEGER;
CREATE INDEX idx_audit_seal ON operator_audit_log(seal_id, audit_id);
CREATE INDEX idx_audit_unchained ON operator_audit_log(recommendation_id, timestamp, audit_id) WHERE row_hash IS NULL;
ALTER TABLE recommendations ADD COLUMN audit_head TEXT;
ALTER TABLE operators ADD COLUMN audit_head TEXT;
CREATE TABLE audit_heads (
    subject TEXT PRIMARY KEY,
    head    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit_seals (
    seal_id        INTEGER PRIMARY KEY,
    sealed_at      TEXT NOT NULL,
    row_count      INTEGER NOT NULL,
    first_audit_id TEXT NOT NULL,
    last_audit_id  TEXT NOT NULL,
    merkle_root    TEXT NOT NULL,
    prev_seal_hash TEXT NOT NULL,
    seal_hash      TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    signature      TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_seals;
DROP TABLE audit_heads;
ALTER TABLE operators DROP COLUMN audit_head;
ALTER TABLE recommendations DROP COLUMN audit_head;
DROP INDEX idx_audit_unchained;
DROP INDEX idx_audit_seal;
ALTER TABLE operator_audit_log DROP COLUMN seal_id;
ALTER TABLE operator_audit_log DROP COLUMN row_hash;
ALTER TABLE operator_audit_log DROP COLUMN prev_hash;
