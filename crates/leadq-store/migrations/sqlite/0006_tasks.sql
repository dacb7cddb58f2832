-- Tasks for reps: created by task rules, by hand and by sequences.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    -- the rep it is for (none: the lead has no owner yet)
    owner TEXT,
    -- call, email, proposal, meeting or todo
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    notes TEXT,
    due_at INTEGER NOT NULL,
    -- open, done or cancelled
    status TEXT NOT NULL,
    -- rule:<id>, manual:<who> or sequence:<id>:<step>
    origin TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    completed_at INTEGER,
    completed_by TEXT,
    snoozed INTEGER NOT NULL,
    -- when the overdue webhook went out (once per task)
    overdue_notified_at INTEGER
);
CREATE INDEX tasks_owner ON tasks (owner, status, due_at);
CREATE INDEX tasks_lead ON tasks (lead_id, status);
CREATE INDEX tasks_due ON tasks (status, due_at);
