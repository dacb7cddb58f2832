-- A prediction's top factors are no longer stored: they are a pure function
-- of the model version and the lead's fields, both kept, and explaining a
-- lead (TreeSHAP over every tree) cost a sixth of a new lead's CPU on every
-- write while most predictions are never opened. The service explains a
-- lead when its prediction is read.
ALTER TABLE lead_predictions DROP COLUMN factors;
