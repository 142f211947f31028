-- +goose Up
-- PostgreSQL-native types: timestamptz, boolean, jsonb, double precision.

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    name       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The newest signals per user and window.
CREATE TABLE user_signals (
    user_id      TEXT NOT NULL REFERENCES users(user_id),
    window_type  TEXT NOT NULL CHECK (window_type IN ('30d', '180d')),
    computed_at  TIMESTAMPTZ NOT NULL,
    signals_json JSONB NOT NULL,
    PRIMARY KEY (user_id, window_type)
);

-- The current persona per user and window.
CREATE TABLE user_personas (
    user_id           TEXT NOT NULL REFERENCES users(user_id),
    window_type       TEXT NOT NULL CHECK (window_type IN ('30d', '180d')),
    persona_primary   TEXT NOT NULL,
    persona_secondary TEXT,
    match_strength    DOUBLE PRECISION NOT NULL,
    assigned_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, window_type)
);

-- One row each time a window's persona changes (and the first one).
CREATE TABLE persona_history (
    history_id        TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(user_id),
    window_type       TEXT NOT NULL CHECK (window_type IN ('30d', '180d')),
    persona_primary   TEXT NOT NULL,
    persona_secondary TEXT,
    match_strength    DOUBLE PRECISION NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_persona_history_user ON persona_history(user_id, recorded_at DESC);

CREATE TABLE recommendations (
    recommendation_id TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(user_id),
    persona_primary   TEXT NOT NULL,
    persona_secondary TEXT,
    type              TEXT NOT NULL,
    title             TEXT NOT NULL,
    rationale         TEXT NOT NULL,
    priority          TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'flagged')),
    content_url       TEXT,
    read_time_minutes INTEGER,

    tone_check        BOOLEAN NOT NULL,
    advice_check      BOOLEAN NOT NULL,
    eligibility_check BOOLEAN NOT NULL,
    guardrails_passed BOOLEAN NOT NULL,

    approved_by    TEXT,
    approved_at    TIMESTAMPTZ,
    rejected_by    TEXT,
    rejected_at    TIMESTAMPTZ,
    modified_by    TEXT,
    modified_at    TIMESTAMPTZ,
    operator_notes TEXT,

    generated_at TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,

    version          BIGINT NOT NULL DEFAULT 1,
    content_hash     TEXT NOT NULL DEFAULT '',
    claimed_by       TEXT,
    claim_expires_at TIMESTAMPTZ
);
-- The seed's indexes, reshaped so each list filter can walk in the list's
-- own order (created_at DESC, recommendation_id DESC) without sorting.
CREATE INDEX idx_recommendations_status ON recommendations(status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_user_id ON recommendations(user_id, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_priority ON recommendations(priority, status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_persona ON recommendations(persona_primary, status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_type ON recommendations(type, status, created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_created_at ON recommendations(created_at DESC, recommendation_id DESC);
CREATE INDEX idx_recommendations_approved ON recommendations(approved_at, approved_by);
CREATE INDEX idx_recommendations_rejected ON recommendations(rejected_at, rejected_by);
CREATE INDEX idx_recommendations_claim ON recommendations(claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE operator_audit_log (
    audit_id          TEXT PRIMARY KEY,
    operator_id       TEXT NOT NULL,
    action            TEXT NOT NULL CHECK (action IN ('approve', 'reject', 'modify', 'flag', 'resolve_flag', 'retry_delivery')),
    recommendation_id TEXT NOT NULL REFERENCES recommendations(recommendation_id),
    metadata          JSONB NOT NULL DEFAULT '{}',
    timestamp         TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_audit_operator ON operator_audit_log(operator_id, timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_action ON operator_audit_log(action, timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_timestamp ON operator_audit_log(timestamp DESC, audit_id DESC);
CREATE INDEX idx_audit_recommendation ON operator_audit_log(recommendation_id, timestamp DESC);

CREATE TABLE recommendation_flags (
    flag_id           TEXT PRIMARY KEY,
    recommendation_id TEXT NOT NULL REFERENCES recommendations(recommendation_id),
    flagged_by        TEXT NOT NULL,
    flag_reason       TEXT NOT NULL,
    resolved          BOOLEAN NOT NULL DEFAULT FALSE,
    resolved_by       TEXT,
    resolved_at       TIMESTAMPTZ,
    resolution        TEXT CHECK (resolution IN ('approve', 'reject', 'requeue')),
    resolution_notes  TEXT,
    flagged_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_flags_recommendation ON recommendation_flags(recommendation_id);
CREATE INDEX idx_flags_resolved ON recommendation_flags(resolved, flagged_at DESC);
-- At most one open flag per recommendation.
CREATE UNIQUE INDEX idx_flags_one_open ON recommendation_flags(recommendation_id) WHERE NOT resolved;

CREATE TABLE decision_traces (
    trace_id               TEXT PRIMARY KEY,
    recommendation_id      TEXT NOT NULL UNIQUE REFERENCES recommendations(recommendation_id),
    signals_detected_at    TIMESTAMPTZ NOT NULL,
    persona_assigned_at    TIMESTAMPTZ NOT NULL,
    content_matched_at     TIMESTAMPTZ NOT NULL,
    rationale_generated_at TIMESTAMPTZ NOT NULL,
    guardrails_checked_at  TIMESTAMPTZ NOT NULL,
    signals_json            JSONB NOT NULL,
    persona_assignment_json JSONB NOT NULL,
    content_matches_json    JSONB NOT NULL,
    relevance_scores_json   JSONB NOT NULL,
    llm_model   TEXT NOT NULL,
    temperature DOUBLE PRECISION NOT NULL,
    tokens_used INTEGER NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Delivery of approved recommendations; one row per approved item.
CREATE TABLE deliveries (
    recommendation_id TEXT PRIMARY KEY REFERENCES recommendations(recommendation_id),
    status       TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    queued_at    TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    failed_at    TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_deliveries_status ON deliveries(status, updated_at DESC);

CREATE TABLE operators (
    operator_id   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'senior_operator', 'admin', 'ingest')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Logged-out tokens, kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Failed logins per identifier, stored so throttling holds across processes.
CREATE TABLE login_failures (
    login_key     TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  TEXT NOT NULL,
    locked_until  TEXT
);

CREATE TABLE idempotency_keys (
    operator_id   TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (operator_id, idem_key)
);
CREATE INDEX idx_idempotency_created ON idempotency_keys(created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE login_failures;
DROP TABLE revoked_tokens;
DROP TABLE operators;
DROP TABLE deliveries;
DROP TABLE decision_traces;
DROP TABLE recommendation_flags;
DROP TABLE operator_audit_log;
DROP TABLE recommendations;
DROP TABLE persona_history;
DROP TABLE user_personas;
DROP TABLE user_signals;
DROP TABLE users;
