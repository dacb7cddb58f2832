-- Consent per lead and channel: the current statement, one row per channel.
CREATE TABLE consents (
    lead_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    lawful_basis TEXT,
    opt_in BIGINT,
    do_not_contact BIGINT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (lead_id, channel)
);

-- Every consent statement ever recorded, oldest first: what was stated,
-- when, by whom and from what source.
CREATE TABLE consent_history (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    lawful_basis TEXT,
    opt_in BIGINT,
    do_not_contact BIGINT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX consent_history_lead ON consent_history (lead_id, seq);

-- One row per erased person: that an erasure happened, why and by whom,
-- with only anonymous facts (the lead's source and stage, how many rows
-- went) so that counts per source stay meaningful. No identifier of the
-- person is kept.
CREATE TABLE erasures (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT,
    stage TEXT,
    counts TEXT NOT NULL
);
CREATE INDEX erasures_at ON erasures (at);
-- Retention looks for leads without recent events.
CREATE INDEX events_lead_received ON events (lead_id, received_at);
