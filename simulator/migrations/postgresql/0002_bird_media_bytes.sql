-- Bird media bytes live in the database on PostgreSQL (beside SQLite they are files): a fleet of processes on
-- several hosts shares no directory, and every one of them must serve what another stored.
CREATE TABLE bird_media_bytes (
  id   TEXT PRIMARY KEY,
  data BYTEA NOT NULL
);
