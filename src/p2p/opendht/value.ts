/**
 * SentryPeer's OpenDHT value format: what a SentryPeer node puts on the `bad_actors` key for each event, and the
 * strict validation of values received from that public, unsigned network. Pure code: no FFI, no I/O.
 */
import { normalizeIp } from '../../net/ip.js';
import { parseEventTimestamp, type HoneypotEvent } from '../../events/event.js';
import { toJsonLogRecord } from '../../events/json-log.js';

/** The DHT key string every SentryPeer node listens and publishes on (hashed with SHA-1 into an infohash). */
export const BAD_ACTORS_KEY = 'bad_actors';

/** The 13 keys of a SentryPeer value, in SentryPeer's order; every value is a string. */
export const SENTRYPEER_KEYS = [
  'app_name',
  'app_version',
  'event_timestamp',
  'event_uuid',
  'created_by_node_id',
  'collected_method',
  'transport_type',
  'source_ip',
  'destination_ip',
  'called_number',
  'sip_method',
  'sip_user_agent',
  'sip_message',
] as const;

/** One SentryPeer value: exactly the 13 string keys. */
export type SentryPeerValue = Record<(typeof SENTRYPEER_KEYS)[number], string>;

/** Largest value accepted from the DHT, bytes (a SIP message is at most 64 KiB; the rest is small). */
export const MAX_VALUE_BYTES = 72 * 1024;

/** Per-field bounds, in UTF-16 code units (the JSON text is already bounded by {@link MAX_VALUE_BYTES}). */
const FIELD_MAX: Readonly<Record<(typeof SENTRYPEER_KEYS)[number], number>> = {
  app_name: 64,
  app_version: 64,
  event_timestamp: 29,
  event_uuid: 36,
  created_by_node_id: 36,
  collected_method: 16,
  transport_type: 8,
  source_ip: 64,
  destination_ip: 64,
  called_number: 256,
  sip_method: 32,
  sip_user_agent: 1024,
  sip_message: 65_535,
};

/** How far a received value's timestamp may be from now, either way (one day). */
export const MAX_CLOCK_SKEW_US = 24 * 3600 * 1_000_000;

/** Why a received value was refused: the `reason` label of `sipwarden_opendht_values_rejected_total`. */
export type OpenDhtRejectReason =
  | 'oversize'
  | 'malformed'
  | 'bad_key_type'
  | 'field_too_long'
  | 'bad_uuid'
  | 'bad_ip'
  | 'bad_timestamp'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'unknown_value'
  | 'own_node_id'
  | 'duplicate'
  | 'allowed_source'
  | 'sender_rate'
  | 'total_rate';

/** Every reason, so metrics can pre-create their series. */
export const OPENDHT_REJECT_REASONS: readonly OpenDhtRejectReason[] = [
  'oversize', 'malformed', 'bad_key_type', 'field_too_long', 'bad_uuid', 'bad_ip', 'bad_timestamp', 'stale_timestamp',
  'future_timestamp', 'unknown_value', 'own_node_id', 'duplicate', 'allowed_source', 'sender_rate', 'total_rate',
];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A SIP method is an RFC 3261 token. */
const TOKEN_RE = /^[A-Za-z0-9.!%*_+`'~-]{1,32}$/;
const COLLECTED = new Set(['passive', 'responsive']);
const TRANSPORTS = new Set(['UDP', 'TCP', 'TLS']);

/** The value SentryPeer publishes for an event: its JSON log's first 13 keys, in order, all strings. */
export function toSentryPeerValue(e: HoneypotEvent): SentryPeerValue {
  const rec = toJsonLogRecord(e);
  const value = {} as SentryPeerValue;
  for (const k of SENTRYPEER_KEYS) value[k] = rec[k];
  return value;
}

/** Result of {@link parseSentryPeerValue}. */
export type ParseResult =
  | { ok: true; value: SentryPeerValue; timeUs: number }
  | { ok: false; reason: OpenDhtRejectReason; ignore?: true };

/**
 * Validates one received value. Checks run cheapest first; nothing of the value is trusted before all pass.
 * Keys beyond the 13 are tolerated (a newer SentryPeer may add some) but not kept.
 */
export function parseSentryPeerValue(bytes: Uint8Array, ctx: { ourNodeId: string; nowUs: number }): ParseResult {
  if (bytes.byteLength > MAX_VALUE_BYTES) return { ok: false, reason: 'oversize' };
  // A C sender may include the string's terminating NUL in the value.
  const text = bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 0 ? bytes.subarray(0, bytes.byteLength - 1) : bytes;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'malformed' };
  const r = parsed as Record<string, unknown>;
  const value = {} as SentryPeerValue;
  for (const k of SENTRYPEER_KEYS) {
    const v = r[k];
    if (typeof v !== 'string') return { ok: false, reason: 'bad_key_type' };
    if (v.length > FIELD_MAX[k]) return { ok: false, reason: 'field_too_long' };
    value[k] = v;
  }
  if (!UUID_RE.test(value.event_uuid) || !UUID_RE.test(value.created_by_node_id)) return { ok: false, reason: 'bad_uuid' };
  if (value.created_by_node_id.toLowerCase() === ctx.ourNodeId.toLowerCase()) {
    return { ok: false, reason: 'own_node_id', ignore: true };
  }
  const src = normalizeIp(value.source_ip);
  if (src === null) return { ok: false, reason: 'bad_ip' };
  value.source_ip = src;
  if (value.destination_ip !== '') {
    const dst = normalizeIp(value.destination_ip);
    if (dst === null) return { ok: false, reason: 'bad_ip' };
    value.destination_ip = dst;
  }
  const us = parseEventTimestamp(value.event_timestamp);
  if (us === null) return { ok: false, reason: 'bad_timestamp' };
  if (us > ctx.nowUs + MAX_CLOCK_SKEW_US) return { ok: false, reason: 'future_timestamp' };
  if (us < ctx.nowUs - MAX_CLOCK_SKEW_US) return { ok: false, reason: 'stale_timestamp' };
  if (!COLLECTED.has(value.collected_method) || !TRANSPORTS.has(value.transport_type) || !TOKEN_RE.test(value.sip_method)) {
    return { ok: false, reason: 'unknown_value' };
  }
  value.event_uuid = value.event_uuid.toLowerCase();
  value.created_by_node_id = value.created_by_node_id.toLowerCase();
  return { ok: true, value, timeUs: us };
}
