-- Retention (core/retention.py): each kind's sweep finds what is due through an index on its time column, oldest
-- first, and removes the rows it depends on through theirs. Partial where only finished rows may go: a scan never
-- walks past rows that must stay (pending deliveries, messages still moving or scheduled weeks ahead).
CREATE INDEX outbox_finished ON outbox (created_at) WHERE status <> 'pending';
CREATE INDEX bird_messages_finished ON bird_messages (created_at)
  WHERE status IN ('delivered', 'delivery_failed', 'sending_failed', 'rejected', 'skipped', 'deleted');
CREATE INDEX bird_media_created ON bird_media (created_at);
CREATE INDEX bc_device_messages_created ON bc_device_messages (created_at);
CREATE INDEX bc_conversations_updated ON bc_conversations (updated_at);
CREATE INDEX bc_blobs_created ON bc_blobs (created_at);
CREATE INDEX bc_downloads_blob ON bc_downloads (blob_id);
CREATE INDEX bc_downloads_expires ON bc_downloads (expires_at);
