-- The timeline's index was keyed by message id: random UUIDs, so every status change of a busy run dirtied a
-- random index page (~15 us a row; a third of an hour-long advance). Keyed by the message's creation time
-- first, the rows of messages created together land on the same pages (~4 us a row).
ALTER TABLE ui_bird_status_history ADD COLUMN message_created_at INTEGER NOT NULL DEFAULT 0;
UPDATE ui_bird_status_history SET message_created_at = COALESCE(
  (SELECT created_at FROM bird_messages WHERE bird_messages.id = ui_bird_status_history.message_id), 0);
DROP INDEX ui_bird_status_history_message;
CREATE INDEX ui_bird_status_history_message ON ui_bird_status_history (message_created_at, message_id, id);
