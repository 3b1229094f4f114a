-- Behaviour coverage, as SQLite's migration 0015: how often each behaviour of a provider's catalogue occurred, per
-- workspace or business (scope '' when the occurrence names none). A full reset of the world leaves it alone.
CREATE TABLE coverage_counts (
  provider  TEXT NOT NULL,
  behaviour TEXT NOT NULL,
  scope     TEXT NOT NULL DEFAULT '',
  count     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, behaviour, scope)
);
