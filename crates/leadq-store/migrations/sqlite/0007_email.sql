-- Email templates: subject and body with variables from the lead and rep,
-- checked when saved.
CREATE TABLE email_templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- marketing (needs an opt-in or legitimate interest, carries an
    -- unsubscribe link) or transactional
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- Nurture sequences: their definition as a JSON document.
CREATE TABLE sequences (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One enrolment per lead per sequence, ever: a lead that left a sequence
-- is not put through it again.
CREATE TABLE enrolments (
    id TEXT PRIMARY KEY,
    sequence_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    -- active, completed or stopped
    status TEXT NOT NULL,
    step INTEGER NOT NULL,
    -- whether the wait at `step` has been served when it next runs
    resumed INTEGER NOT NULL,
    next_run_at INTEGER,
    stage_at_enrol TEXT NOT NULL,
    stop_reason TEXT,
    enrolled_by TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (sequence_id, lead_id)
);
CREATE INDEX enrolments_due ON enrolments (status, next_run_at);
CREATE INDEX enrolments_lead ON enrolments (lead_id);

-- Every email: rendered when queued, sent by the mail worker with retries
-- (the queue survives restarts), then what happened to it.
CREATE TABLE emails (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    enrolment_id TEXT,
    step INTEGER,
    template_id TEXT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    purpose TEXT NOT NULL,
    -- queued, sent, failed, suppressed or cancelled
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    message_id TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    opened_at INTEGER,
    clicked_at INTEGER,
    replied_at INTEGER,
    bounced_at INTEGER
);
CREATE INDEX emails_due ON emails (status, next_attempt_at);
CREATE INDEX emails_lead ON emails (lead_id);
CREATE UNIQUE INDEX emails_message_id ON emails (message_id);
