-- The request journal on PostgreSQL: a capped table every process of a fleet writes to and reads (beside SQLite
-- it is a ring buffer in the one process). Its numbers come from a sequence of their own, which a full reset does
-- not restart: a reader that asked for entries after seq N never sees an old number again. An entry is JSON: either
-- the entry itself or {"$record": builder, "args": [...]}, what a request's entry is built from when read.
CREATE SEQUENCE journal_seq;
CREATE TABLE journal (
  seq      BIGINT PRIMARY KEY DEFAULT nextval('journal_seq'),
  kind     TEXT NOT NULL,
  provider TEXT,
  entry    TEXT NOT NULL
);
ALTER SEQUENCE journal_seq OWNED BY journal.seq;
