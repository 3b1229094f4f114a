-- The timeline's index (creation time, message id) was sequential only while the clock moved between sends. On a
-- manual clock, which tests and load runs use, every send of a run shares one creation time, so the random message
-- UUID decided where each row went: one more random page written per send (1.3 of a send's ~8 WAL pages). The
-- message's rowid only grows, whatever the clock does. message_created_at stays in older rows; new ones leave it 0.
ALTER TABLE ui_bird_status_history ADD COLUMN message_seq INTEGER NOT NULL DEFAULT 0;
UPDATE ui_bird_status_history SET message_seq = COALESCE(
  (SELECT seq FROM bird_messages WHERE bird_messages.id = ui_bird_status_history.message_id), 0);
DROP INDEX ui_bird_status_history_message;
CREATE INDEX ui_bird_status_history_message ON ui_bird_status_history (message_seq, id);
