CREATE TABLE leads (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    email TEXT,
    domain TEXT,
    company TEXT,
    source TEXT,
    campaign TEXT,
    country TEXT,
    fields TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_reason TEXT,
    owner TEXT,
    fit DOUBLE PRECISION,
    grade TEXT,
    engagement DOUBLE PRECISION,
    band BIGINT,
    priority TEXT,
    sort_rank BIGINT NOT NULL DEFAULT 999,
    total DOUBLE PRECISION NOT NULL DEFAULT 0,
    mql BIGINT NOT NULL DEFAULT 0,
    model_version BIGINT,
    reasons TEXT,
    scored_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    assigned_at BIGINT,
    first_response_at BIGINT,
    stage_changed_at BIGINT NOT NULL,
    mql_at BIGINT,
    sql_at BIGINT,
    closed_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1
);
-- One lead per email address: re-sending a lead updates it.
CREATE UNIQUE INDEX leads_email ON leads (email);
CREATE INDEX leads_domain ON leads (domain);
CREATE INDEX leads_priority ON leads (sort_rank, total DESC, seq);
CREATE INDEX leads_total ON leads (total DESC, seq);
CREATE INDEX leads_owner ON leads (owner, sort_rank, total DESC, seq);
CREATE INDEX leads_created ON leads (created_at);

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    props TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    received_at BIGINT NOT NULL
);
CREATE INDEX events_lead ON events (lead_id, at);

CREATE TABLE ledger (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    as_of BIGINT NOT NULL,
    model_version BIGINT NOT NULL,
    fit DOUBLE PRECISION NOT NULL,
    grade TEXT NOT NULL,
    engagement DOUBLE PRECISION NOT NULL,
    band BIGINT NOT NULL,
    priority TEXT NOT NULL,
    mql BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    cause TEXT NOT NULL,
    inputs TEXT NOT NULL
);
CREATE INDEX ledger_lead ON ledger (lead_id, seq);

CREATE TABLE transitions (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    model_version BIGINT,
    automatic BIGINT NOT NULL
);
CREATE INDEX transitions_lead ON transitions (lead_id, seq);

CREATE TABLE assignments (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    rep_id TEXT NOT NULL,
    previous_rep TEXT,
    rule TEXT,
    explanation TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX assignments_lead ON assignments (lead_id, seq);

CREATE TABLE answers (
    lead_id TEXT NOT NULL,
    framework TEXT NOT NULL,
    criterion TEXT NOT NULL,
    value TEXT NOT NULL,
    evidence TEXT,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (lead_id, framework, criterion)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    rep_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    user_id TEXT,
    rep_id TEXT,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE models (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    published_at BIGINT
);

CREATE TABLE reps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    capacity BIGINT NOT NULL,
    timezone TEXT NOT NULL,
    working_hours TEXT NOT NULL,
    territory TEXT NOT NULL,
    active BIGINT NOT NULL,
    last_assigned_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE routing_rules (
    position BIGINT PRIMARY KEY,
    rule TEXT NOT NULL
);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    action TEXT NOT NULL,
    escalate_to TEXT,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sla_breaches (
    seq BIGSERIAL PRIMARY KEY,
    lead_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    owner TEXT,
    due_at BIGINT NOT NULL,
    detected_at BIGINT NOT NULL,
    action TEXT NOT NULL,
    UNIQUE (lead_id, policy_id, due_at)
);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_webhook ON outbox (webhook_id, seq);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE TABLE spend (
    source TEXT NOT NULL,
    campaign TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, campaign, period_start)
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
