-- Behaviour coverage: how often each behaviour of a provider's catalogue occurred, per workspace or business
-- (scope '' when the occurrence names none), since the counts were last reset. A full reset of the world leaves
-- the table alone (the counts are the test run's).
CREATE TABLE coverage_counts (
  provider  TEXT NOT NULL,
  behaviour TEXT NOT NULL,
  scope     TEXT NOT NULL DEFAULT '',
  count     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, behaviour, scope)
) WITHOUT ROWID;
