-- A fleet: several processes on this database acting as one simulator (core/fleet.py).
-- Each process registers and beats here (wall-clock milliseconds); its claims outlive it only until its beat is stale.
CREATE TABLE fleet_workers (
  id         TEXT PRIMARY KEY,
  host       TEXT NOT NULL,
  pid        INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  beat_at    BIGINT NOT NULL,
  stream     INTEGER NOT NULL DEFAULT 0,  -- which random sequence it draws ids from (core/ids.py), unique among the live
  streams    INTEGER NOT NULL DEFAULT 0   -- live streams (GET /_sim/events) open on it: the others relay their events
);
-- The process running a due job; NULL while nobody does. Handlers delete a job when done.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
CREATE INDEX jobs_claimed_by ON jobs (claimed_by) WHERE claimed_by IS NOT NULL;
-- Bumped by every change another process must see (control state, a reset, a cached table written): each process
-- compares it with the one it last saw before serving a request and reloads what it keeps in memory when it moved.
INSERT INTO meta (key, value) VALUES ('fleet:epoch', '0') ON CONFLICT (key) DO NOTHING;
-- How often a fault rule with "times" fired, fleet-wide: a conditional UPDATE takes each hit exactly once.
CREATE TABLE fault_hits (
  rule_id TEXT PRIMARY KEY,
  hits    INTEGER NOT NULL
);
-- A rate limit's budget in its current window (Bird's per-workspace requests per second), fleet-wide.
CREATE TABLE fleet_window_counts (
  key       TEXT PRIMARY KEY,
  window_id BIGINT NOT NULL,
  used      INTEGER NOT NULL
);
