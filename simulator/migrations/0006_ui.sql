-- The web UI's status timeline: one row per Bird message event (written in the transaction that changed the
-- message), so each transition keeps its own clock time. Read by GET /_sim/bird/messages.
CREATE TABLE ui_bird_status_history (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id   TEXT NOT NULL,
  workspace_id TEXT NOT NULL DEFAULT '',
  channel_id   TEXT NOT NULL DEFAULT '',
  event        TEXT NOT NULL,
  status       TEXT NOT NULL,
  at           INTEGER NOT NULL,
  details      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ui_bird_status_history_message ON ui_bird_status_history (message_id, id);
CREATE INDEX ui_bird_status_history_ws ON ui_bird_status_history (workspace_id);
CREATE INDEX ui_bird_status_history_channel ON ui_bird_status_history (channel_id);
