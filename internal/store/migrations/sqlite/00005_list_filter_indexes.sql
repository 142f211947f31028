-- +goose Up
-- The list's filter indexes carry the other two filter columns after their
-- sort key, so a combined filter (persona and priority, say) is checked on
-- the index entry and only matching rows are read from the table. Before,
-- the database walked one filter's index in list order and read every
-- row to test the other filter: ~12 ms for a page of a rare persona with
-- one priority at 100,000 recommendations, against ~1 ms for no filter.
-- The order the list walks is unchanged.
DROP INDEX idx_recommendations_priority;
DROP INDEX idx_recommendations_persona;
DROP INDEX idx_recommendations_type;
CREATE INDEX idx_recommendations_priority ON recommendations(priority, status, created_at DESC, recommendation_id DESC, persona_primary, type);
CREATE INDEX idx_recommendations_persona ON recommendations(persona_primary, status, created_at DESC, recommendation_id DESC, priority, type);
CREATE INDEX idx_recommendations_type ON recommendations(type, status, created_at DESC, recommendation_id DESC, persona_primary, priority);

-- +goose Down
DROP INDEX idx_recommendations_priority;
DROP INDEX idx_recommendations_persona;
DROP INDEX idx_recommendations_type;
CREATE INDEX idx_recommendations_priority ON recommendations(priority, status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_persona ON recommendations(persona_primary, status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_type ON recommendations(type, status, created_at DESC, recommendation_id DESC);
