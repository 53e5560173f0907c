import { randomFillSync } from 'node:crypto';

/** SIP transports as stored in `transport_type`. */
export type Transport = 'UDP' | 'TCP' | 'TLS';
/**
 * Where an event came from: captured here, a signed libp2p peer record, an unsigned value from SentryPeer's
 * OpenDHT network, or migrated from a SentryPeer database.
 */
export type Origin = 'local' | 'peer' | 'opendht' | 'legacy';
export type CollectedMethod = 'passive' | 'responsive';
/** Sentinel SentryPeer stores when a value is absent (called number, user agent). */
export const NOT_FOUND = 'NOT_FOUND';

/**
 * Digest credentials an attacker sent (SPEC §7.6), plus a clear-text password when one could be recovered
 * (sipvicious From tag). Every digest field is the raw parameter value, unquoted; null when absent.
 */
export interface CapturedAuth {
  /** Which header carried them. */
  header: 'Authorization' | 'Proxy-Authorization';
  scheme: string;
  username: string | null;
  realm: string | null;
  nonce: string | null;
  uri: string | null;
  response: string | null;
  algorithm: string | null;
  qop: string | null;
  nc: string | null;
  cnonce: string | null;
  opaque: string | null;
  /** Clear-text password when recovered; never written to operational logs above debug. */
  password: string | null;
  passwordSource: 'sipvicious_tag' | null;
  /** 1/0 as boolean: digest recomputed with `password` equals `response`; null without password or digest. */
  passwordVerified: boolean | null;
}

/**
 * The one event envelope (design.md §2): produced by capture (or by the P2P receiver), consumed by the store,
 * JSON log, syslog, webhook, API and peers. Field meanings follow SPEC §6.1.
 */
export interface HoneypotEvent {
  eventUuid: string;
  /** UTC `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (always 9 fractional digits). */
  eventTimestamp: string;
  /** Same instant as integer microseconds since the Unix epoch (UTC); `event_time_us`. */
  eventTimeUs: number;
  sourceIp: string;
  sourcePort: number | null;
  destinationIp: string;
  destinationPort: number | null;
  transport: Transport;
  /** Request-line method token as received. */
  method: string;
  requestUriUser: string | null;
  toUser: string | null;
  /** SPEC §6.2; `NOT_FOUND` when nothing applies. */
  calledNumber: string;
  calledNumberE164: string | null;
  /** Escaped first User-Agent (SPEC §6.1), `NOT_FOUND` if missing. */
  userAgent: string;
  /** Message bytes as UTF-8 (U+FFFD for invalid sequences). */
  sipMessage: string;
  /** The raw bytes, only when they are not valid UTF-8 (`sip_message_raw`); else null. */
  sipMessageRaw: Buffer | null;
  collectedMethod: CollectedMethod;
  createdByNodeId: string;
  origin: Origin;
  /** Signing PeerId for peer events; null otherwise. */
  originPeerId: string | null;
  /** Final status we sent (or decided to send), null when none. */
  responseCode: number | null;
  auth: CapturedAuth | null;
  /** SPEC §6.1: TCP/TLS, or a UDP request echoing a nonce or To-tag we sent to that address. */
  sourceVerified: boolean;
  sourceCountry: string | null;
  sourceCity: string | null;
  /** For peer events: the signed envelope JSON exactly as received, kept in `peer_records`. */
  peerEnvelope: string | null;
}

let anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
let anchorAt = Date.now();

/** Current wall-clock time in nanoseconds since the epoch, with sub-millisecond resolution. */
export function nowNs(): bigint {
  const now = Date.now();
  if (now - anchorAt > 60_000) {
    // Re-anchor once a minute so a wall-clock adjustment is followed.
    anchorNs = BigInt(now) * 1_000_000n - process.hrtime.bigint();
    anchorAt = now;
  }
  return anchorNs + process.hrtime.bigint();
}

/** Formats epoch nanoseconds as SPEC §6.1's UTC `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`. */
let cachedSecond = -1n;
let cachedPrefix = '';

export function formatEventTimestamp(ns: bigint): string {
  const second = ns / 1_000_000_000n;
  if (second !== cachedSecond) {
    // The date-time part changes once a second; formatting it per event is measurable on the capture path.
    const iso = new Date(Number(second) * 1000).toISOString(); // 2026-11-24T17:48:04.000Z
    cachedPrefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}.`;
    cachedSecond = second;
  }
  return cachedPrefix + (ns % 1_000_000_000n).toString().padStart(9, '0');
}

/** Parses a SPEC §6.1 timestamp back to epoch microseconds; null when it does not have that exact form. */
export function parseEventTimestamp(ts: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{9})$/.exec(ts);
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(ms)) return null;
  return ms * 1000 + Math.floor(+m[7]! / 1000);
}

/** A fresh receipt time: the timestamp string and its microsecond value, from one clock reading. */
export function receiptTime(): { eventTimestamp: string; eventTimeUs: number } {
  const ns = nowNs();
  return { eventTimestamp: formatEventTimestamp(ns), eventTimeUs: Number(ns / 1000n) };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Random bytes for 256 UUIDs, refilled in bulk (one CSPRNG call per 4 KiB, as `crypto.randomUUID` also does). */
const uuidPool = Buffer.alloc(16 * 256);
let uuidPoolAt = uuidPool.length;
const uuidText = Buffer.alloc(36);

/**
 * Lowercase UUIDv4 (RFC 9562 §5.4: 122 random bits, version 4, variant 10) for `event_uuid` and node ids. Same
 * randomness as `crypto.randomUUID`, but the text is built in one 36-byte buffer and read out as one flat string:
 * `randomUUID` concatenates 20 pieces (~560 bytes of garbage per event on the capture path, measured).
 */
export function newUuid(): string {
  if (uuidPoolAt + 16 > uuidPool.length) {
    randomFillSync(uuidPool);
    uuidPoolAt = 0;
  }
  const at = uuidPoolAt;
  uuidPoolAt += 16;
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[o++] = 0x2d; // '-'
    let b = uuidPool[at + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10
    uuidText[o++] = HEX_DIGITS[b >> 4]!;
    uuidText[o++] = HEX_DIGITS[b & 0x0f]!;
  }
  return uuidText.toString('latin1');
}

/** Rough in-memory size of an event, for byte bounds on queues: the message dominates; the rest is an allowance. */
export function estimateEventBytes(e: HoneypotEvent): number {
  return 512 + e.sipMessage.length + e.userAgent.length + (e.sipMessageRaw?.length ?? 0);
}
