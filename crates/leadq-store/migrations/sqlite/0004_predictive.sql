-- Predictive models learned from the company's own won and lost leads.
-- At most one is the champion (the probability shown) and at most one the
-- challenger (scored in the shadow until promoted); the rest are retired.
CREATE TABLE predictive_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL UNIQUE,
    status TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    model TEXT NOT NULL,
    metrics TEXT NOT NULL,
    rows_used INTEGER NOT NULL,
    positives INTEGER NOT NULL,
    trained_at INTEGER NOT NULL,
    trained_by TEXT NOT NULL
);

-- The latest prediction of each lead, one row per lead, replaced on every
-- re-scoring so that pages read it without running a model.
CREATE TABLE lead_predictions (
    lead_id TEXT PRIMARY KEY,
    champion_version INTEGER NOT NULL,
    probability REAL NOT NULL,
    factors TEXT NOT NULL,
    challenger_version INTEGER,
    challenger_probability REAL,
    scored_at INTEGER NOT NULL
);
