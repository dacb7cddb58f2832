-- Website tracking: anonymous visitors (a random id kept in a first-party
-- cookie on the customer's site), linked to a lead once they submit a form.
-- consent: NULL when the site does not ask, 1 given, 0 withdrawn.
CREATE TABLE visitors (
    id TEXT PRIMARY KEY,
    lead_id TEXT,
    consent INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX visitors_lead ON visitors (lead_id);

-- What a visitor did, as the snippet reported it. `id` is the event's id
-- within its visitor (a repeated one is stored once); the lead's copy of
-- the event takes its idempotency key from (visitor_id, id).
CREATE TABLE visitor_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    visitor_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    props TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (visitor_id, id)
);
CREATE INDEX visitor_events_visitor ON visitor_events (visitor_id, occurred_at);
