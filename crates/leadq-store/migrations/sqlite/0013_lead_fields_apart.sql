-- A lead's submitted fields (a JSON document of a few hundred bytes) move
-- out of the lead row into a table of their own, keyed by the lead's seq.
-- A re-score rewrites every lead row it scores; with the document beside
-- the row rather than in it, that row is a third of the size, and a
-- publish writes that much less. The document is written only when it
-- changes.
CREATE TABLE lead_fields (
    seq INTEGER PRIMARY KEY,
    fields TEXT NOT NULL
);
INSERT INTO lead_fields (seq, fields) SELECT seq, fields FROM leads;
ALTER TABLE leads DROP COLUMN fields;
