-- Bird Channels API core: contacts, messages, interactions.
-- `seq` is the keyset tiebreaker: it only grows, so a page cursor never meets a message twice.
CREATE TABLE bird_contacts (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  workspace_id     TEXT NOT NULL,
  identifier_key   TEXT NOT NULL,
  identifier_value TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  data             TEXT NOT NULL
);
CREATE UNIQUE INDEX bird_contacts_identifier ON bird_contacts (workspace_id, identifier_key, identifier_value);
CREATE INDEX bird_contacts_ws ON bird_contacts (workspace_id, seq);

CREATE TABLE bird_messages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  channel_id   TEXT NOT NULL,
  direction    TEXT NOT NULL,
  status       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  batch_id     TEXT,
  sender       TEXT NOT NULL DEFAULT '',
  recipient    TEXT NOT NULL DEFAULT '',
  contact_id   TEXT NOT NULL DEFAULT '',
  reference    TEXT NOT NULL DEFAULT '',
  tags         TEXT NOT NULL DEFAULT '',
  data         TEXT NOT NULL
);
CREATE INDEX bird_messages_ws ON bird_messages (workspace_id, created_at, seq);
CREATE INDEX bird_messages_channel ON bird_messages (channel_id, created_at, seq);
CREATE INDEX bird_messages_channel_status ON bird_messages (channel_id, status, created_at, seq);
CREATE INDEX bird_messages_ws_status ON bird_messages (workspace_id, status, created_at, seq);
CREATE INDEX bird_messages_batch ON bird_messages (batch_id, created_at, seq) WHERE batch_id IS NOT NULL;
CREATE INDEX bird_messages_recipient ON bird_messages (recipient, created_at, seq);
CREATE INDEX bird_messages_sender ON bird_messages (sender, created_at, seq);
CREATE INDEX bird_messages_contact ON bird_messages (contact_id, created_at, seq);

CREATE TABLE bird_interactions (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  message_id   TEXT NOT NULL,
  channel_id   TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  type         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  data         TEXT NOT NULL
);
CREATE INDEX bird_interactions_message ON bird_interactions (message_id, seq);
