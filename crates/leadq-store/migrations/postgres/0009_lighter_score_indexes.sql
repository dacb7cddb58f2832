-- Every score change moves a lead's entries in the indexes keyed by its
-- score; these two are made lighter.
-- A rep's list (owner = ?, by priority) only ever asks for owned leads, and
-- most leads have no owner: unowned leads stay out of this index.
DROP INDEX leads_owner;
CREATE INDEX leads_owner ON leads (owner, sort_rank, total DESC, seq) WHERE owner IS NOT NULL;
-- Listing by score merges the best of each priority rank read from
-- leads_priority (sort_rank, total DESC, seq), so no index on the total
-- alone is kept.
DROP INDEX leads_total;
