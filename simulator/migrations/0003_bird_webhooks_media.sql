-- Bird webhook subscriptions (Notifications API), uploaded/inbound media metadata, opt-outs, per-message
-- notification URLs. Media bytes live in files under the media directory, never in these rows.
CREATE TABLE bird_webhook_subscriptions (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  workspace_id    TEXT NOT NULL,
  service         TEXT NOT NULL,
  event           TEXT NOT NULL,
  url             TEXT NOT NULL,
  signing_key     TEXT NOT NULL DEFAULT '',
  template        TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL DEFAULT 'active',
  filters         TEXT NOT NULL DEFAULT '[]',
  filter_set      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX bird_webhook_subscriptions_match ON bird_webhook_subscriptions (workspace_id, event, status);

CREATE TABLE bird_media (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  channel_id   TEXT NOT NULL DEFAULT '',
  message_id   TEXT NOT NULL DEFAULT '',
  object_key   TEXT NOT NULL,
  content_type TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'pending',
  size         INTEGER NOT NULL DEFAULT 0,
  sha256       TEXT NOT NULL DEFAULT '',
  file_name    TEXT NOT NULL DEFAULT '',
  expires_at   INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  uploaded_at  INTEGER
);
CREATE UNIQUE INDEX bird_media_key ON bird_media (object_key);
CREATE INDEX bird_media_ws ON bird_media (workspace_id, channel_id);
CREATE INDEX bird_media_message ON bird_media (message_id) WHERE message_id != '';

CREATE TABLE bird_opt_outs (
  channel_id   TEXT NOT NULL,
  identifier   TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  opted_out    INTEGER NOT NULL,
  keyword      TEXT NOT NULL DEFAULT '',
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (channel_id, identifier)
);
CREATE INDEX bird_opt_outs_ws ON bird_opt_outs (workspace_id);

CREATE TABLE bird_notification_urls (
  message_id   TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  url          TEXT NOT NULL
);
CREATE INDEX bird_notification_urls_ws ON bird_notification_urls (workspace_id);
