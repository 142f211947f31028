-- +goose Up
-- Notes, tags and undo (CONTRACT.md). The audit trail already takes their
-- actions and rows about no recommendation (00011).

-- scheduled: approved, waiting out the undo window; cancelled: the
-- approval was undone before it was sent.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN ('scheduled', 'queued', 'delivered', 'failed', 'cancelled'));

-- The last status change, and until when it may be undone (NULL: it may
-- not, because undo is off, the decision was undone, or it was no decision).
ALTER TABLE recommendations ADD COLUMN previous_status TEXT CHECK (previous_status IN ('pending', 'approved', 'rejected', 'flagged'));
ALTER TABLE recommendations ADD COLUMN status_changed_at TIMESTAMPTZ;
ALTER TABLE recommendations ADD COLUMN undo_expires_at TIMESTAMPTZ;

-- A thread of notes per recommendation. A deleted note leaves the table;
-- the audit trail keeps its text.
CREATE TABLE recommendation_notes (
    note_id           TEXT PRIMARY KEY,
    recommendation_id TEXT NOT NULL REFERENCES recommendations(recommendation_id),
    operator_id       TEXT NOT NULL,
    note_text         TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ
);
CREATE INDEX idx_notes_recommendation ON recommendation_notes(recommendation_id, created_at, note_id);

-- The names operators may tag with. Retired names stay (old tags keep
-- their meaning) but cannot be used for new tags.
CREATE TABLE tag_vocabulary (
    tag_name     TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    retired      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL
);
INSERT INTO tag_vocabulary (tag_name, display_name, created_at) VALUES
    ('needs_review', 'Needs Review', '2026-01-01T00:00:00Z'),
    ('edge_case', 'Edge Case', '2026-01-01T00:00:00Z'),
    ('training_example', 'Training Example', '2026-01-01T00:00:00Z'),
    ('policy_question', 'Policy Question', '2026-01-01T00:00:00Z'),
    ('tone_concern', 'Tone Concern', '2026-01-01T00:00:00Z'),
    ('eligibility_question', 'Eligibility Question', '2026-01-01T00:00:00Z'),
    ('llm_error', 'LLM Error', '2026-01-01T00:00:00Z'),
    ('great_example', 'Great Example', '2026-01-01T00:00:00Z');

CREATE TABLE recommendation_tags (
    tag_id            TEXT PRIMARY KEY,
    recommendation_id TEXT NOT NULL REFERENCES recommendations(recommendation_id),
    tag_name          TEXT NOT NULL REFERENCES tag_vocabulary(tag_name),
    tagged_by         TEXT NOT NULL,
    tagged_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (recommendation_id, tag_name)
);
-- The list's tag= filter walks a tag's items.
CREATE INDEX idx_tags_name ON recommendation_tags(tag_name, recommendation_id);

-- +goose Down
DROP TABLE recommendation_tags;
DROP TABLE tag_vocabulary;
DROP TABLE recommendation_notes;
ALTER TABLE recommendations DROP COLUMN undo_expires_at;
ALTER TABLE recommendations DROP COLUMN status_changed_at;
ALTER TABLE recommendations DROP COLUMN previous_status;
