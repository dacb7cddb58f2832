-- A rep's list (owner = ?, by priority) only ever asks for owned leads, and
-- most leads have no owner: keeping unowned leads out of this index spares
-- every score change of an unowned lead an entry to move in it.
DROP INDEX leads_owner;
CREATE INDEX leads_owner ON leads (owner, sort_rank, total DESC, seq) WHERE owner IS NOT NULL;
