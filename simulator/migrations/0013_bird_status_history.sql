-- The status timeline is Bird's own data (its control plane serves it, the web UI only reads it): the table
-- takes a Bird name. Its index keeps the name it was created with (SQLite cannot rename an index).
ALTER TABLE ui_bird_status_history RENAME TO bird_status_history;
