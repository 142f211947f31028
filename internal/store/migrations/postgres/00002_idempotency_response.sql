-- +goose Up
-- A replayed response needs its content type and the few headers that carry
-- meaning (ETag, Location), not only its status and body.
ALTER TABLE idempotency_keys ADD COLUMN content_type TEXT NOT NULL DEFAULT 'application/json';
ALTER TABLE idempotency_keys ADD COLUMN response_headers TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN response_headers;
ALTER TABLE idempotency_keys DROP COLUMN content_type;
