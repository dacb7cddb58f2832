-- Predictive models learned from the company's own won and lost leads.
-- At most one is the champion (the probability shown) and at most one the
-- challenger (scored in the shadow until promoted); the rest are retired.
CREATE TABLE predictive_models (
    id BIGSERIAL PRIMARY KEY,
    version BIGINT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    model TEXT NOT NULL,
    metrics TEXT NOT NULL,
    rows_used BIGINT NOT NULL,
    positives BIGINT NOT NULL,
    trained_at BIGINT NOT NULL,
    trained_by TEXT NOT NULL
);

-- The latest prediction of each lead, one row per lead, replaced on every
-- re-scoring so that pages read it without running a model.
CREATE TABLE lead_predictions (
    lead_id TEXT PRIMARY KEY,
    champion_version BIGINT NOT NULL,
    probability DOUBLE PRECISION NOT NULL,
    factors TEXT NOT NULL,
    challenger_version BIGINT,
    challenger_probability DOUBLE PRECISION,
    scored_at BIGINT NOT NULL
);
