-- A running job's server writes this every few seconds. On PostgreSQL,
-- where several servers share the store, a job whose beat has stopped for
-- longer than the lease belongs to a server that died: another server
-- marks it failed and, for a re-score, runs the re-score again.
ALTER TABLE jobs ADD COLUMN heartbeat_at BIGINT;
