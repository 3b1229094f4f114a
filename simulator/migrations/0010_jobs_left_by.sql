-- A job written by another task while the scheduler ran due jobs (an advance, a run-due, the background loop): that
-- run leaves it to the next one. Without the mark, steady traffic kept a run chasing the work it caused (each
-- send's webhook is due "now", an advance's target) for as long as the traffic lasted, holding the scheduler's lock.
ALTER TABLE jobs ADD COLUMN left_by INTEGER NOT NULL DEFAULT 0;
