-- Core tables: key/value meta, the scheduler's due jobs, the webhook outbox and its attempt log.
-- Times are epoch milliseconds on the simulator's clock.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE jobs (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  due_at  INTEGER NOT NULL,
  kind    TEXT NOT NULL,
  ref     TEXT NOT NULL DEFAULT '',
  scope   TEXT NOT NULL DEFAULT '',
  payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX jobs_due ON jobs (due_at, id);
CREATE INDEX jobs_ref ON jobs (ref);
CREATE INDEX jobs_scope ON jobs (scope);

CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  provider        TEXT NOT NULL,
  scope           TEXT NOT NULL DEFAULT '',
  event           TEXT NOT NULL,
  ordering_key    TEXT NOT NULL DEFAULT '',
  subscription_id TEXT NOT NULL DEFAULT '',
  request_id      TEXT NOT NULL,
  url             TEXT NOT NULL,
  headers         TEXT NOT NULL,
  body            BLOB NOT NULL,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0,
  status          TEXT NOT NULL DEFAULT 'pending',
  last_status     INTEGER,
  last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_status ON outbox (status, id);
CREATE INDEX outbox_subscription ON outbox (subscription_id, id);
CREATE INDEX outbox_scope ON outbox (scope);

CREATE TABLE outbox_attempts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  outbox_id   INTEGER NOT NULL,
  attempt     INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status_code INTEGER,
  error       TEXT NOT NULL DEFAULT '',
  duration_ms REAL NOT NULL DEFAULT 0
);
CREATE INDEX outbox_attempts_outbox ON outbox_attempts (outbox_id, id);
