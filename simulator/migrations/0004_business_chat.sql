-- Business Chat (Apple Messages for Business): customers created at run time, per-business overrides,
-- conversation state, what each simulated device received, and the MMCS-like blob store.
-- Seeded customers/businesses live in the world config; these tables only hold what changed at run time.
-- Times are epoch milliseconds on the simulator's clock.
CREATE TABLE bc_customers (
  id          TEXT PRIMARY KEY,
  business_id TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  data        TEXT NOT NULL
);

CREATE TABLE bc_business_settings (
  business_id         TEXT PRIMARY KEY,
  webhook_url         TEXT,
  payment_gateway_url TEXT
);

CREATE TABLE bc_conversations (
  business_id    TEXT NOT NULL,
  customer_id    TEXT NOT NULL,
  closed         INTEGER NOT NULL DEFAULT 0,
  received_count INTEGER NOT NULL DEFAULT 0,
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (business_id, customer_id)
);

-- One row per message: business -> device ('in' to the device) and customer -> business ('out').
-- `seq` grows in commit order, which is the order the gateway answered 200.
CREATE TABLE bc_device_messages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL,
  direction    TEXT NOT NULL,
  business_id  TEXT NOT NULL,
  customer_id  TEXT NOT NULL,
  type         TEXT NOT NULL,
  request_id   TEXT NOT NULL DEFAULT '',
  feature      TEXT NOT NULL DEFAULT '',
  answered     INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  data         TEXT NOT NULL
);
CREATE INDEX bc_device_messages_customer ON bc_device_messages (customer_id, seq);
CREATE INDEX bc_device_messages_request ON bc_device_messages (customer_id, request_id);

-- Blobs: uploads by the MSP (kind 'upload'), customer attachments ('attachment'), interactive data
-- references for large replies ('idr') and stored outbound payloads ('dataref'). Bytes are kept in the row
-- so a reset or a restart treats them exactly like the rest of the state.
CREATE TABLE bc_blobs (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,
  business_id   TEXT NOT NULL,
  customer_id   TEXT NOT NULL DEFAULT '',
  owner         TEXT NOT NULL,
  url           TEXT NOT NULL UNIQUE,
  upload_token  TEXT UNIQUE,
  declared_size INTEGER,
  size          INTEGER,
  checksum      TEXT NOT NULL DEFAULT '',
  meta          TEXT NOT NULL DEFAULT '{}',
  data          BLOB,
  created_at    INTEGER NOT NULL
);
CREATE INDEX bc_blobs_business ON bc_blobs (business_id);

CREATE TABLE bc_downloads (
  token      TEXT PRIMARY KEY,
  blob_id    TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
