-- Open leads per owner (routing's least-loaded choice, the admin page's
-- load column) are counted from this index alone, without reading leads.
CREATE INDEX leads_owner_stage ON leads (owner, stage);
