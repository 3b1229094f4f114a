-- The timeline's workspace and channel indexes served only a scoped reset's DELETE, yet every Bird event paid for
-- two more index entries (a send and each of its transitions): 10-20 % of a one-hour advance over 100,000 messages.
-- A scoped reset now deletes a scope's rows through the messages it removes (bird_messages_ws/_channel, then the
-- message_seq index), before those messages go.
DROP INDEX IF EXISTS ui_bird_status_history_ws;
DROP INDEX IF EXISTS ui_bird_status_history_channel;
