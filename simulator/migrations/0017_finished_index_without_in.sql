-- bird_messages_finished again, its condition written as ORs: SQLite evaluates a partial index's `IN (list)` through
-- temporary b-trees built for every statement that writes the table (two per status UPDATE, one per INSERT), which
-- made every send and status change pay for the retention index. The same rows, the same index, no temporary b-trees.
DROP INDEX bird_messages_finished;
CREATE INDEX bird_messages_finished ON bird_messages (created_at)
  WHERE (status = 'delivered' OR status = 'delivery_failed' OR status = 'sending_failed' OR status = 'rejected'
         OR status = 'skipped' OR status = 'deleted');
