/**
 * Versioned schema migrations. New databases and SentryPeer databases run the same list, so both
 * end with the same schema. The runner (sqlite.ts) records each applied version in
 * `sipwarden_migrations(version, name, applied_at)` and refuses a database whose highest version is newer
 * than the last one here (exit 1, file untouched). Never edit a released migration: append a new one.
 */
import { CONSOLE_MIGRATION_SQL } from './console.js';

export interface Migration {
  version: number;
  name: string;
  /** SQL run inside one transaction. */
  sql: string;
}

/** SentryPeer 4.0.x's exact `honey` table and indexes. Must stay byte-identical in meaning. */
export const SENTRYPEER_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS honey (honey_id INTEGER PRIMARY KEY, event_timestamp TEXT,
  event_uuid TEXT, collected_method TEXT, source_ip TEXT, called_number TEXT,
  transport_type TEXT, method TEXT, user_agent TEXT, sip_message TEXT,
  created_by_node_id TEXT,
  created_at DATETIME DEFAULT(STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')));
CREATE INDEX IF NOT EXISTS source_ip_index ON honey (source_ip);
CREATE INDEX IF NOT EXISTS called_number_index ON honey (called_number);
CREATE INDEX IF NOT EXISTS event_uuid_index ON honey (event_uuid);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'sentrypeer_honey', sql: SENTRYPEER_SCHEMA_SQL },
  {
    version: 2,
    name: 'honey_extra_columns',
    sql: `
ALTER TABLE honey ADD COLUMN destination_ip TEXT;
ALTER TABLE honey ADD COLUMN source_port INTEGER;
ALTER TABLE honey ADD COLUMN destination_port INTEGER;
ALTER TABLE honey ADD COLUMN called_number_e164 TEXT;
ALTER TABLE honey ADD COLUMN request_uri_user TEXT;
ALTER TABLE honey ADD COLUMN to_user TEXT;
ALTER TABLE honey ADD COLUMN event_time_us INTEGER;
ALTER TABLE honey ADD COLUMN origin TEXT;
ALTER TABLE honey ADD COLUMN origin_peer_id TEXT;
ALTER TABLE honey ADD COLUMN response_code INTEGER;
ALTER TABLE honey ADD COLUMN sip_message_raw BLOB;
ALTER TABLE honey ADD COLUMN source_country TEXT;
ALTER TABLE honey ADD COLUMN source_city TEXT;
ALTER TABLE honey ADD COLUMN source_verified INTEGER;
CREATE INDEX IF NOT EXISTS honey_event_time_us_index ON honey (event_time_us);
CREATE INDEX IF NOT EXISTS honey_called_number_e164_index ON honey (called_number_e164);
-- SentryPeer rows: time from created_at (UTC), origin legacy. No other value is rewritten.
UPDATE honey SET
  -- Integer arithmetic (julianday() doubles are off by up to ~50 µs): whole seconds plus the millisecond digits.
  event_time_us = CAST(strftime('%s', created_at) AS INTEGER) * 1000000 + CAST(substr(strftime('%f', created_at), 4, 3) AS INTEGER) * 1000,
  origin = 'legacy'
WHERE origin IS NULL;
`,
  },
  {
    version: 3,
    name: 'sipwarden_tables',
    sql: `
CREATE TABLE IF NOT EXISTS sipwarden_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Aggregates maintained in the batch transaction. *_us = UTC microseconds; last_seen is the
-- event_timestamp text of the newest row (compat 'seen_last'); last_honey_id breaks ties.
CREATE TABLE IF NOT EXISTS ip_stats (
  ip TEXT PRIMARY KEY,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  first_seen TEXT,
  last_seen TEXT,
  last_honey_id INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ip_stats_last_seen_index ON ip_stats (last_seen_us DESC, last_honey_id DESC);

CREATE TABLE IF NOT EXISTS number_stats (
  called_number TEXT PRIMARY KEY,
  called_number_e164 TEXT,
  country TEXT,
  number_type TEXT,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  first_seen TEXT,
  last_seen TEXT,
  last_honey_id INTEGER NOT NULL,
  event_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS number_stats_last_seen_index ON number_stats (last_seen_us DESC, last_honey_id DESC);
CREATE INDEX IF NOT EXISTS number_stats_e164_index ON number_stats (called_number_e164);

CREATE TABLE IF NOT EXISTS user_agent_stats (
  user_agent TEXT PRIMARY KEY,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  last_seen TEXT,
  last_honey_id INTEGER NOT NULL,
  event_count INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS method_stats (
  method TEXT PRIMARY KEY,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  last_seen TEXT,
  last_honey_id INTEGER NOT NULL,
  event_count INTEGER NOT NULL
);

-- Captured digest credentials, linked to the event.
CREATE TABLE IF NOT EXISTS credentials (
  credential_id INTEGER PRIMARY KEY,
  honey_id INTEGER,
  event_uuid TEXT NOT NULL,
  event_time_us INTEGER NOT NULL,
  source_ip TEXT NOT NULL,
  source_port INTEGER,
  transport_type TEXT,
  method TEXT,
  header TEXT,
  scheme TEXT,
  username TEXT,
  realm TEXT,
  nonce TEXT,
  uri TEXT,
  response TEXT,
  algorithm TEXT,
  qop TEXT,
  nc TEXT,
  cnonce TEXT,
  opaque TEXT,
  user_agent TEXT,
  password TEXT,
  password_source TEXT,
  password_verified INTEGER
);
CREATE INDEX IF NOT EXISTS credentials_event_uuid_index ON credentials (event_uuid);
CREATE INDEX IF NOT EXISTS credentials_time_index ON credentials (event_time_us);
CREATE INDEX IF NOT EXISTS credentials_source_ip_index ON credentials (source_ip);

-- Signed P2P envelopes: peer records as received, and our own as published. record_id is the
-- insertion-order cursor served to catching-up peers.
CREATE TABLE IF NOT EXISTS peer_records (
  record_id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_uuid TEXT NOT NULL UNIQUE,
  origin_peer_id TEXT NOT NULL,
  envelope TEXT NOT NULL,
  received_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_cursors (
  peer_id TEXT PRIMARY KEY,
  cursor TEXT,
  updated_at_us INTEGER NOT NULL
);

-- Durable webhook outbox, written in the same transaction as the honey rows.
CREATE TABLE IF NOT EXISTS webhook_outbox (
  outbox_id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_uuid TEXT NOT NULL,
  body TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at_us INTEGER NOT NULL,
  next_attempt_us INTEGER NOT NULL,
  last_error TEXT,
  dead_at_us INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_outbox_state_index ON webhook_outbox (state, outbox_id);

-- Backfill aggregates from SentryPeer rows (no-op on a new database).
INSERT OR IGNORE INTO ip_stats (ip, first_seen_us, last_seen_us, first_seen, last_seen, last_honey_id, event_count, verified)
  SELECT source_ip, MIN(event_time_us), MAX(event_time_us), MIN(event_timestamp), MAX(event_timestamp), MAX(honey_id), COUNT(*), 0
  FROM honey WHERE source_ip IS NOT NULL GROUP BY source_ip;
INSERT OR IGNORE INTO number_stats (called_number, first_seen_us, last_seen_us, first_seen, last_seen, last_honey_id, event_count)
  SELECT called_number, MIN(event_time_us), MAX(event_time_us), MIN(event_timestamp), MAX(event_timestamp), MAX(honey_id), COUNT(*)
  FROM honey WHERE called_number IS NOT NULL GROUP BY called_number;
INSERT OR IGNORE INTO user_agent_stats (user_agent, first_seen_us, last_seen_us, last_seen, last_honey_id, event_count)
  SELECT user_agent, MIN(event_time_us), MAX(event_time_us), MAX(event_timestamp), MAX(honey_id), COUNT(*)
  FROM honey WHERE user_agent IS NOT NULL GROUP BY user_agent;
INSERT OR IGNORE INTO method_stats (method, first_seen_us, last_seen_us, last_seen, last_honey_id, event_count)
  SELECT method, MIN(event_time_us), MAX(event_time_us), MAX(event_timestamp), MAX(honey_id), COUNT(*)
  FROM honey WHERE method IS NOT NULL GROUP BY method;
`,
  },
  {
    version: 4,
    name: 'block_facts',
    sql: `
-- What the block policy and the call-check need per address, split by origin class: local captures (and
-- SentryPeer rows) vs records signed by a peer; hits, proven-source hits and the newest time of each (µs, 0 = none).
ALTER TABLE ip_stats ADD COLUMN local_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN local_verified_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN local_last_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN local_verified_last_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN peer_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN peer_verified_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN peer_last_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN peer_verified_last_us INTEGER NOT NULL DEFAULT 0;

-- Called numbers by key (E.164 form when there is one, else the raw number-like text): distinct sources, kept
-- exact by number_sources (one row per number and source address). Loopback, link-local and unspecified sources
-- (the operator's own tests) are not counted.
CREATE TABLE IF NOT EXISTS number_sources (
  number_key TEXT NOT NULL,
  ip TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (number_key, ip)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS number_check_stats (
  number_key TEXT PRIMARY KEY,
  hits INTEGER NOT NULL,
  sources INTEGER NOT NULL,
  verified_sources INTEGER NOT NULL,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL
);

-- Backfill from the rows already stored (no-op on a new database).
UPDATE ip_stats SET (local_hits, local_verified_hits, local_last_us, local_verified_last_us,
    peer_hits, peer_verified_hits, peer_last_us, peer_verified_last_us) = (
  SELECT
    COALESCE(SUM(h.origin IS NULL OR h.origin IN ('local', 'legacy')), 0),
    COALESCE(SUM((h.origin IS NULL OR h.origin IN ('local', 'legacy')) AND h.source_verified = 1), 0),
    COALESCE(MAX(CASE WHEN h.origin IS NULL OR h.origin IN ('local', 'legacy') THEN h.event_time_us END), 0),
    COALESCE(MAX(CASE WHEN (h.origin IS NULL OR h.origin IN ('local', 'legacy')) AND h.source_verified = 1 THEN h.event_time_us END), 0),
    COALESCE(SUM(h.origin = 'peer'), 0),
    COALESCE(SUM(h.origin = 'peer' AND h.source_verified = 1), 0),
    COALESCE(MAX(CASE WHEN h.origin = 'peer' THEN h.event_time_us END), 0),
    COALESCE(MAX(CASE WHEN h.origin = 'peer' AND h.source_verified = 1 THEN h.event_time_us END), 0)
  FROM honey h WHERE h.source_ip = ip_stats.ip)
WHERE EXISTS (SELECT 1 FROM honey h WHERE h.source_ip = ip_stats.ip);
INSERT OR IGNORE INTO number_sources (number_key, ip, verified)
  SELECT COALESCE(called_number_e164, called_number), source_ip, MAX(COALESCE(source_verified, 0))
  FROM honey
  WHERE source_ip IS NOT NULL AND (origin IS NULL OR origin IN ('local', 'legacy', 'peer'))
    AND source_ip NOT GLOB '127.*' AND source_ip NOT GLOB '169.254.*' AND source_ip NOT IN ('0.0.0.0', '::', '::1')
    AND lower(source_ip) NOT GLOB 'fe[89ab]?:*'
    AND (called_number_e164 IS NOT NULL OR (called_number <> '' AND called_number NOT GLOB '*[^0-9]*')
      OR (called_number GLOB '+[0-9]*' AND substr(called_number, 2) NOT GLOB '*[^0-9]*'))
  GROUP BY 1, 2;
INSERT OR IGNORE INTO number_check_stats (number_key, hits, sources, verified_sources, first_seen_us, last_seen_us)
  SELECT COALESCE(called_number_e164, called_number), COUNT(*), 0, 0, MIN(event_time_us), MAX(event_time_us)
  FROM honey
  WHERE source_ip IS NOT NULL AND (origin IS NULL OR origin IN ('local', 'legacy', 'peer'))
    AND source_ip NOT GLOB '127.*' AND source_ip NOT GLOB '169.254.*' AND source_ip NOT IN ('0.0.0.0', '::', '::1')
    AND lower(source_ip) NOT GLOB 'fe[89ab]?:*'
    AND (called_number_e164 IS NOT NULL OR (called_number <> '' AND called_number NOT GLOB '*[^0-9]*')
      OR (called_number GLOB '+[0-9]*' AND substr(called_number, 2) NOT GLOB '*[^0-9]*'))
  GROUP BY 1;
UPDATE number_check_stats SET (sources, verified_sources) = (
  SELECT COUNT(*), COALESCE(SUM(verified), 0) FROM number_sources s WHERE s.number_key = number_check_stats.number_key);
`,
  },
  {
    version: 5,
    name: 'opendht_counts',
    sql: `
-- Events per address that came from unsigned OpenDHT values: blocklists count an address only when it was seen
-- otherwise too (here or by a signed peer), unless the operator trusts OpenDHT.
ALTER TABLE ip_stats ADD COLUMN opendht_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ip_stats ADD COLUMN opendht_last_us INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 6,
    name: 'geo_asn_columns',
    sql: `
ALTER TABLE honey ADD COLUMN source_asn INTEGER;
ALTER TABLE honey ADD COLUMN source_org TEXT;
-- Looked up once per address, when the address is first stored (the writer's GeoIP/ASN enrichment).
ALTER TABLE ip_stats ADD COLUMN country TEXT;
ALTER TABLE ip_stats ADD COLUMN city TEXT;
ALTER TABLE ip_stats ADD COLUMN asn INTEGER;
ALTER TABLE ip_stats ADD COLUMN org TEXT;
CREATE INDEX IF NOT EXISTS ip_stats_country_index ON ip_stats (country, city);
CREATE INDEX IF NOT EXISTS ip_stats_asn_index ON ip_stats (asn);
`,
  },
  {
    version: 7,
    name: 'block_reconcile_index',
    sql: `
-- The firewall's start-up reconcile asks for every address whose newest counted hit is within the block TTL,
-- newest first. Under the default policy (proven sources only, peers' records count) that hit is this
-- expression; the index turns a scan and sort of all of ip_stats into a range read of the recent addresses.
-- The expression must stay identical to the one qualifyingIpsQuery() writes for that policy.
CREATE INDEX IF NOT EXISTS ip_stats_block_last_index ON ip_stats (MAX(local_verified_last_us, peer_verified_last_us));
`,
  },
  { version: 8, name: 'console_aggregates', sql: CONSOLE_MIGRATION_SQL },
];

/** Highest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
