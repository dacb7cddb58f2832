CREATE TABLE leads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
    fit REAL,
    grade TEXT,
    engagement REAL,
    band INTEGER,
    priority TEXT,
    sort_rank INTEGER NOT NULL DEFAULT 999,
    total REAL NOT NULL DEFAULT 0,
    mql INTEGER NOT NULL DEFAULT 0,
    model_version INTEGER,
    reasons TEXT,
    scored_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    assigned_at INTEGER,
    first_response_at INTEGER,
    stage_changed_at INTEGER NOT NULL,
    mql_at INTEGER,
    sql_at INTEGER,
    closed_at INTEGER,
    version INTEGER NOT NULL DEFAULT 1
);
-- One lead per email address: re-sending a lead updates it.
CREATE UNIQUE INDEX leads_email ON leads (email);
CREATE INDEX leads_domain ON leads (domain);
CREATE INDEX leads_priority ON leads (sort_rank, total DESC, seq);
CREATE INDEX leads_total ON leads (total DESC, seq);
CREATE INDEX leads_owner ON leads (owner, sort_rank, total DESC, seq);
CREATE INDEX leads_created ON leads (created_at);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    props TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    received_at INTEGER NOT NULL
);
CREATE INDEX events_lead ON events (lead_id, at);

CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    fit REAL NOT NULL,
    grade TEXT NOT NULL,
    engagement REAL NOT NULL,
    band INTEGER NOT NULL,
    priority TEXT NOT NULL,
    mql INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    cause TEXT NOT NULL,
    inputs TEXT NOT NULL
);
CREATE INDEX ledger_lead ON ledger (lead_id, seq);

CREATE TABLE transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    model_version INTEGER,
    automatic INTEGER NOT NULL
);
CREATE INDEX transitions_lead ON transitions (lead_id, seq);

CREATE TABLE assignments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    at INTEGER NOT NULL,
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
    at INTEGER NOT NULL,
    PRIMARY KEY (lead_id, framework, criterion)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    rep_id TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    user_id TEXT,
    rep_id TEXT,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    published_at INTEGER
);

CREATE TABLE reps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    capacity INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    working_hours TEXT NOT NULL,
    territory TEXT NOT NULL,
    active INTEGER NOT NULL,
    last_assigned_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE routing_rules (
    position INTEGER PRIMARY KEY,
    rule TEXT NOT NULL
);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    action TEXT NOT NULL,
    escalate_to TEXT,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sla_breaches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    owner TEXT,
    due_at INTEGER NOT NULL,
    detected_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    UNIQUE (lead_id, policy_id, due_at)
);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_webhook ON outbox (webhook_id, seq);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE TABLE spend (
    source TEXT NOT NULL,
    campaign TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    amount REAL NOT NULL,
    PRIMARY KEY (source, campaign, period_start)
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
