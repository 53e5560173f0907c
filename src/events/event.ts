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
 * Digest credentials an attacker sent, plus a clear-text password when one could be recovered
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
 * JSON log, syslog, webhook, API and peers. Field meanings are documented in docs/STORE.md and docs/SINKS.md.
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
  /** the event fields; `NOT_FOUND` when nothing applies. */
  calledNumber: string;
  calledNumberE164: string | null;
  /** Escaped first User-Agent, `NOT_FOUND` if missing. */
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
  /** TCP/TLS, or a UDP request echoing a nonce or To-tag we sent to that address. */
  sourceVerified: boolean;
  sourceCountry: string | null;
  sourceCity: string | null;
  /** Source autonomous system number, filled by the store writer from `--asn-db` (absent until then). */
  sourceAsn?: number | null;
  /** Source AS organisation, as {@link HoneypotEvent.sourceAsn}. */
  sourceOrg?: string | null;
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

/** Formats epoch nanoseconds as the event fields' UTC `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`. */
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

/** Parses a event fields timestamp back to epoch microseconds; null when it does not have that exact form. */
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

/** Offset of 16 fresh random bytes in {@link uuidPool}. */
function takeRandom16(): number {
  if (uuidPoolAt + 16 > uuidPool.length) {
    randomFillSync(uuidPool);
    uuidPoolAt = 0;
  }
  const at = uuidPoolAt;
  uuidPoolAt += 16;
  return at;
}

/** Writes 16 bytes as 8-4-4-4-12 lowercase hex into {@link uuidText} and reads it out as one flat string. */
function uuidToText(bytes: Buffer, at: number): string {
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[o++] = 0x2d; // '-'
    const b = bytes[at + i]!;
    uuidText[o++] = HEX_DIGITS[b >> 4]!;
    uuidText[o++] = HEX_DIGITS[b & 0x0f]!;
  }
  return uuidText.toString('latin1');
}

/**
 * Lowercase UUIDv4 (RFC 9562 §5.4: 122 random bits, version 4, variant 10) for node ids. Same randomness as
 * `crypto.randomUUID`, but the text is built in one 36-byte buffer and read out as one flat string: `randomUUID`
 * concatenates 20 pieces (~560 bytes of garbage per call, measured). Events use {@link newEventUuid}.
 */
export function newUuid(): string {
  const at = takeRandom16();
  uuidPool[at + 6] = (uuidPool[at + 6]! & 0x0f) | 0x40; // version 4
  uuidPool[at + 8] = (uuidPool[at + 8]! & 0x3f) | 0x80; // variant 10
  return uuidToText(uuidPool, at);
}

/** Largest 48-bit millisecond value a UUIDv7 can carry (year 10889). */
const MAX_UNIX_TS_MS = 2 ** 48 - 1;

/**
 * A UUIDv7 source (RFC 9562 §5.7 layout, lowercase text): 48-bit Unix milliseconds, version 7, a 12-bit counter in
 * `rand_a` (RFC 9562 §6.2, method 1), variant 10, 62 random bits in `rand_b`. The ids one source returns are strictly
 * increasing, also as text, so a B-tree index over them is appended to at its right edge instead of at a random leaf.
 *
 * - Each new millisecond seeds the counter with 11 random bits (0–2047), leaving at least 2,048 increments per ms.
 * - Counter full within one ms: the id borrows the next millisecond (its timestamp runs ahead of the clock by at
 *   most a few ms under a flood of millions of ids per second, and falls back in step as soon as the clock passes it).
 * - Clock stepped backwards: ids keep the last millisecond used and count on from there, so they stay increasing;
 *   their embedded time leads the wall clock by the size of the step until the clock catches up. Only the order key
 *   is affected: the receipt time of an event is its `event_timestamp`, never the id.
 *
 * @param now milliseconds since the epoch (injectable for tests; `Date.now` by default)
 */
export function createUuidV7Source(now: () => number = Date.now): () => string {
  const bytes = Buffer.alloc(16);
  let lastMs = -1;
  let counter = 0;
  return function next(): string {
    const at = takeRandom16();
    let ms = Math.floor(now());
    if (!(ms >= 0)) ms = 0; // NaN or a clock before 1970: order still holds via lastMs below
    if (ms > lastMs) {
      lastMs = Math.min(ms, MAX_UNIX_TS_MS);
      counter = ((uuidPool[at]! << 8) | uuidPool[at + 1]!) & 0x7ff;
    } else if (counter < 0xfff) {
      counter++;
    } else {
      lastMs = Math.min(lastMs + 1, MAX_UNIX_TS_MS);
      counter = ((uuidPool[at]! << 8) | uuidPool[at + 1]!) & 0x7ff;
    }
    // 48-bit big-endian milliseconds (above 2^32, so no 32-bit shifts on the high part).
    const hi = Math.floor(lastMs / 0x100000000);
    const lo = lastMs >>> 0;
    bytes[0] = hi >>> 8;
    bytes[1] = hi & 0xff;
    bytes[2] = lo >>> 24;
    bytes[3] = (lo >>> 16) & 0xff;
    bytes[4] = (lo >>> 8) & 0xff;
    bytes[5] = lo & 0xff;
    bytes[6] = 0x70 | (counter >>> 8); // version 7 + counter high nibble
    bytes[7] = counter & 0xff;
    bytes[8] = (uuidPool[at + 8]! & 0x3f) | 0x80; // variant 10 + 6 random bits
    for (let i = 9; i < 16; i++) bytes[i] = uuidPool[at + i]!;
    return uuidToText(bytes, 0);
  };
}

/**
 * `event_uuid` of a new local event: a UUIDv7 from this process's one source (see {@link createUuidV7Source}), so
 * ids are time-ordered and strictly increasing within the process. The text form is the same 8-4-4-4-12 lowercase
 * hex as SentryPeer's UUIDv4 values, which stored rows keep.
 */
export const newEventUuid: () => string = createUuidV7Source();

/** The Unix milliseconds a UUIDv7 carries, or null when the text is not a version-7 UUID. */
export function uuidV7Millis(uuid: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid)) return null;
  return parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}

/** Rough in-memory size of an event, for byte bounds on queues: the message dominates; the rest is an allowance. */
export function estimateEventBytes(e: HoneypotEvent): number {
  return 512 + e.sipMessage.length + e.userAgent.length + (e.sipMessageRaw?.length ?? 0);
}
