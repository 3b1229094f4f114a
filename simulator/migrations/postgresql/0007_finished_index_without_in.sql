-- bird_messages_finished with the condition SQLite's migration 0017 gives it (written as ORs, which SQLite evaluates
-- without temporary b-trees): one condition for both dialects, so the sweep's WHERE names the index's own.
DROP INDEX bird_messages_finished;
CREATE INDEX bird_messages_finished ON bird_messages (created_at)
  WHERE (status = 'delivered' OR status = 'delivery_failed' OR status = 'sending_failed' OR status = 'rejected'
         OR status = 'skipped' OR status = 'deleted');
