-- Digest of the inputs of each lead's latest ledger entry: a new entry with
-- the same inputs (a re-score after a publish changes only the model)
-- stores them as '' instead of again.
ALTER TABLE leads ADD COLUMN inputs_digest BIGINT;
