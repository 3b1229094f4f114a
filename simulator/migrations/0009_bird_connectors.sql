-- SMS connectors installed through POST /workspaces/{ws}/connectors: each brings a channel, loaded into the
-- world at start-up so it survives a restart; a full or workspace reset removes them (back to the config).
CREATE TABLE bird_connectors (
  id              TEXT PRIMARY KEY,
  workspace_id    TEXT NOT NULL,
  channel_id      TEXT NOT NULL UNIQUE,
  phone_number_id TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  data            TEXT NOT NULL
);
CREATE UNIQUE INDEX bird_connectors_number ON bird_connectors (workspace_id, phone_number_id);
