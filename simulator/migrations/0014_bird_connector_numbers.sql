-- A connector's number gets its own column and a unique index per workspace: two installs of one number that run
-- at the same time (on a server database, in two transactions) cannot both succeed, and no JSON function is needed
-- to find it.
ALTER TABLE bird_connectors ADD COLUMN number TEXT NOT NULL DEFAULT '';
UPDATE bird_connectors SET number = json_extract(data, '$.number');
CREATE UNIQUE INDEX bird_connectors_ws_number ON bird_connectors (workspace_id, number);
