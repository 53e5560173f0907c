/**
 * Signed peer records and their validation. Pure code over bytes and node:crypto,
 * no libp2p: the same functions serve gossip, catch-up and tests.
 */
import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { normalizeIp } from '../net/ip.js';
import type { P2pShareMode } from '../config/types.js';
import { parseEventTimestamp, type CapturedAuth, type HoneypotEvent } from '../events/event.js';
import { toJsonLogRecord, type JsonLogRecord } from '../events/json-log.js';
import { escapeAttackerText } from '../log.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** Gossip topic. */
export const TOPIC = 'sipwarden/bad-actors/1';
/** Domain separation prefix of the record signature. */
export const SIGNATURE_PREFIX = 'sipwarden-record-v1:';
/** Largest accepted envelope, bytes. */
export const MAX_RECORD_BYTES = 64 * 1024;
/** How far in the future a record's timestamp may be. */
export const MAX_FUTURE_US = 5 * 60 * 1_000_000;

/** The wire envelope, key order as the peer-to-peer contract writes it. */
export interface Envelope {
  v: 1;
  peer_id: string;
  payload: string;
  sig: string;
}

/** Why a record was rejected: the `reason` label of `sipwarden_p2p_records_rejected_total`. */
export type RejectReason =
  | 'oversize'
  | 'malformed'
  | 'unsigned'
  | 'bad_signature'
  | 'forged_origin'
  | 'peer_not_allowed'
  | 'bad_key_type'
  | 'bad_uuid'
  | 'own_node_id'
  | 'bad_ip'
  | 'bad_timestamp'
  | 'future_timestamp'
  | 'unknown_value';

/** A local signer: our PeerId and Ed25519 key. */
export interface RecordSigner {
  readonly peerId: string;
  sign(data: Buffer): Buffer;
}

/** Builds a signer from the raw libp2p Ed25519 private key (64 bytes: seed then public key). */
export function createRecordSigner(peerId: string, rawPrivateKey: Uint8Array): RecordSigner {
  if (rawPrivateKey.byteLength !== 64) throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, 'expected a 64-byte Ed25519 libp2p private key');
  const key = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(rawPrivateKey.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(rawPrivateKey.subarray(32)).toString('base64url'),
    },
    format: 'jwk',
  });
  return { peerId, sign: (data) => edSign(null, data, key) };
}

/**
 * The record payload of a local event: its JSON-log format object minus what the share policy excludes.
 * `no-credentials` (default) blanks `auth.password`; `no-raw` also drops the message text and bytes.
 */
export function sharedRecord(event: HoneypotEvent, share: P2pShareMode): JsonLogRecord {
  const rec = toJsonLogRecord(event);
  if (share !== 'full' && rec.auth) rec.auth = { ...rec.auth, password: null };
  if (share === 'no-raw') {
    rec.sip_message = '';
    rec.sip_message_base64 = null;
  }
  return rec;
}

/** Signs a record and returns the compact envelope JSON. */
export function signRecord(rec: JsonLogRecord, signer: RecordSigner): string {
  const payload = Buffer.from(JSON.stringify(rec), 'utf8');
  const sig = signer.sign(Buffer.concat([Buffer.from(SIGNATURE_PREFIX), payload]));
  const env: Envelope = { v: 1, peer_id: signer.peerId, payload: payload.toString('base64'), sig: sig.toString('base64') };
  return JSON.stringify(env);
}

/**
 * Envelope for a local event under a share policy. A record that would exceed {@link MAX_RECORD_BYTES}
 * (a near-64 KiB INVITE grows by base64 twice) is shared without its message text rather than not at all:
 * the attacker's address is the part peers need.
 */
export function envelopeForEvent(event: HoneypotEvent, share: P2pShareMode, signer: RecordSigner): string {
  const rec = sharedRecord(event, share);
  let env = signRecord(rec, signer);
  if (Buffer.byteLength(env) > MAX_RECORD_BYTES) {
    rec.sip_message = '';
    rec.sip_message_base64 = null;
    env = signRecord(rec, signer);
  }
  return env;
}

/** Context of one validation. */
export interface ValidateContext {
  /** Our node UUID: records claiming it are forged. */
  ourNodeId: string;
  /** Our PeerId: our own records served back by catch-up are ignored, not rejected. */
  ourPeerId: string;
  /** Allowlist; absent = every signer is allowed. */
  isAllowedPeer?: (peerId: string) => boolean;
  /** For gossip: the signer of the gossipsub message, which must be the envelope's signer. */
  gossipSigner?: string;
  /** Clock, µs since the epoch. */
  nowUs: number;
}

export type ValidateResult =
  | { ok: true; envelope: Envelope; record: JsonLogRecord; signer: string; text: string }
  | { ok: false; reason: RejectReason }
  | { ok: false; reason: 'own'; ignore: true };

const SP_STRING_KEYS = [
  'app_name', 'app_version', 'event_timestamp', 'event_uuid', 'created_by_node_id', 'collected_method',
  'transport_type', 'source_ip', 'destination_ip', 'called_number', 'sip_method', 'sip_user_agent', 'sip_message',
] as const;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const COLLECTED = new Set(['passive', 'responsive']);
const TRANSPORTS = new Set(['UDP', 'TCP', 'TLS']);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Public keys by PeerId: a busy peer signs thousands of records, parsing its key once is enough. */
const keyCache = new Map<string, KeyObject | null>();

function publicKeyOf(peerId: string): KeyObject | null {
  const hit = keyCache.get(peerId);
  if (hit !== undefined) return hit;
  let key: KeyObject | null = null;
  try {
    const pid = peerIdFromString(peerId);
    if (pid.type === 'Ed25519' && pid.publicKey) {
      key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pid.publicKey.raw).toString('base64url') },
        format: 'jwk',
      });
    }
  } catch {
    key = null;
  }
  if (keyCache.size > 10_000) keyCache.clear(); // bounded: ids are attacker-chosen
  keyCache.set(peerId, key);
  return key;
}

const isNullableString = (v: unknown): boolean => v === null || v === undefined || typeof v === 'string';
const isNullablePort = (v: unknown): boolean =>
  v === null || v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535);

/**
 * Validates one envelope. Checks run cheapest first; the signature before anything that
 * trusts the payload. Returns the decoded record, or why it is rejected (`own` = ours, ignore silently).
 */
export function validateEnvelope(bytes: Uint8Array, ctx: ValidateContext): ValidateResult {
  if (bytes.byteLength > MAX_RECORD_BYTES) return { ok: false, reason: 'oversize' };
  let text: string;
  let env: unknown;
  try {
    text = decoder.decode(bytes);
    env = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return { ok: false, reason: 'malformed' };
  const e = env as Record<string, unknown>;
  if (e.v !== 1 || typeof e.peer_id !== 'string' || typeof e.payload !== 'string') return { ok: false, reason: 'malformed' };
  if (typeof e.sig !== 'string' || e.sig === '') return { ok: false, reason: 'unsigned' };
  if (!BASE64_RE.test(e.payload) || !BASE64_RE.test(e.sig)) return { ok: false, reason: 'malformed' };
  const signer = e.peer_id;
  if (ctx.gossipSigner !== undefined && ctx.gossipSigner !== signer) return { ok: false, reason: 'forged_origin' };
  const key = publicKeyOf(signer);
  if (!key) return { ok: false, reason: 'bad_signature' };
  const payload = Buffer.from(e.payload, 'base64');
  const sig = Buffer.from(e.sig, 'base64');
  let good = false;
  try {
    good = sig.byteLength === 64 && edVerify(null, Buffer.concat([Buffer.from(SIGNATURE_PREFIX), payload]), key, sig);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: 'bad_signature' };
  if (signer === ctx.ourPeerId) return { ok: false, reason: 'own', ignore: true };
  if (ctx.isAllowedPeer && !ctx.isAllowedPeer(signer)) return { ok: false, reason: 'peer_not_allowed' };

  let rec: unknown;
  try {
    rec = JSON.parse(decoder.decode(payload));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return { ok: false, reason: 'malformed' };
  const r = rec as Record<string, unknown>;
  for (const k of SP_STRING_KEYS) if (typeof r[k] !== 'string') return { ok: false, reason: 'bad_key_type' };
  for (const k of ['called_number_e164', 'request_uri_user', 'to_user', 'origin', 'origin_peer_id', 'source_country']) {
    if (!isNullableString(r[k])) return { ok: false, reason: 'bad_key_type' };
  }
  if (!isNullablePort(r.source_port) || !isNullablePort(r.destination_port)) return { ok: false, reason: 'bad_key_type' };
  if (!(r.response_code === null || r.response_code === undefined || Number.isInteger(r.response_code))) {
    return { ok: false, reason: 'bad_key_type' };
  }
  if (!(r.source_verified === null || r.source_verified === undefined || typeof r.source_verified === 'boolean')) {
    return { ok: false, reason: 'bad_key_type' };
  }
  if (!(r.sip_message_base64 === null || r.sip_message_base64 === undefined || (typeof r.sip_message_base64 === 'string' && BASE64_RE.test(r.sip_message_base64)))) {
    return { ok: false, reason: 'bad_key_type' };
  }
  if (r.auth !== null && r.auth !== undefined) {
    if (typeof r.auth !== 'object' || Array.isArray(r.auth)) return { ok: false, reason: 'bad_key_type' };
    const a = r.auth as Record<string, unknown>;
    for (const k of ['username', 'realm', 'uri', 'nonce', 'response', 'algorithm', 'password']) {
      if (!isNullableString(a[k])) return { ok: false, reason: 'bad_key_type' };
    }
  }
  // A record is its publisher's own capture: peer events are never republished.
  if (r.origin !== null && r.origin !== undefined && r.origin !== 'local') return { ok: false, reason: 'forged_origin' };
  if (r.origin_peer_id !== null && r.origin_peer_id !== undefined && r.origin_peer_id !== signer) {
    return { ok: false, reason: 'forged_origin' };
  }
  const s = r as unknown as JsonLogRecord;
  if (!UUID_RE.test(s.event_uuid) || !UUID_RE.test(s.created_by_node_id)) return { ok: false, reason: 'bad_uuid' };
  if (s.created_by_node_id.toLowerCase() === ctx.ourNodeId.toLowerCase()) return { ok: false, reason: 'own_node_id' };
  if (normalizeIp(s.source_ip) === null) return { ok: false, reason: 'bad_ip' };
  if (s.destination_ip !== '' && normalizeIp(s.destination_ip) === null) return { ok: false, reason: 'bad_ip' };
  const us = parseEventTimestamp(s.event_timestamp);
  if (us === null) return { ok: false, reason: 'bad_timestamp' };
  if (us > ctx.nowUs + MAX_FUTURE_US) return { ok: false, reason: 'future_timestamp' };
  if (!COLLECTED.has(s.collected_method) || !TRANSPORTS.has(s.transport_type)) return { ok: false, reason: 'unknown_value' };
  return { ok: true, envelope: e as unknown as Envelope, record: s, signer, text };
}

/**
 * The peer event for a validated record: `origin` = `peer`, `origin_peer_id` = signer, the record's own node
 * id, timestamp and fields, and the envelope kept for `peer_records`.
 */
export function recordToEvent(rec: JsonLogRecord, signer: string, envelopeText: string): HoneypotEvent {
  const auth: CapturedAuth | null = rec.auth
    ? {
        header: 'Authorization',
        scheme: 'Digest',
        username: rec.auth.username ?? null,
        realm: rec.auth.realm ?? null,
        nonce: rec.auth.nonce ?? null,
        uri: rec.auth.uri ?? null,
        response: rec.auth.response ?? null,
        algorithm: rec.auth.algorithm ?? null,
        qop: null,
        nc: null,
        cnonce: null,
        opaque: null,
        password: rec.auth.password ?? null,
        passwordSource: null,
        passwordVerified: null,
      }
    : null;
  return {
    eventUuid: rec.event_uuid.toLowerCase(),
    eventTimestamp: rec.event_timestamp,
    eventTimeUs: parseEventTimestamp(rec.event_timestamp)!,
    sourceIp: normalizeIp(rec.source_ip)!,
    sourcePort: rec.source_port ?? null,
    destinationIp: rec.destination_ip === '' ? '' : normalizeIp(rec.destination_ip)!,
    destinationPort: rec.destination_port ?? null,
    transport: rec.transport_type as HoneypotEvent['transport'],
    method: rec.sip_method,
    requestUriUser: rec.request_uri_user == null ? null : escapeAttackerText(rec.request_uri_user),
    toUser: rec.to_user == null ? null : escapeAttackerText(rec.to_user),
    calledNumber: rec.called_number,
    calledNumberE164: rec.called_number_e164 ?? null,
    // Re-escape: the origin should have, but a peer's text is attacker-reachable too.
    userAgent: escapeAttackerText(rec.sip_user_agent),
    sipMessage: rec.sip_message,
    sipMessageRaw: rec.sip_message_base64 ? Buffer.from(rec.sip_message_base64, 'base64') : null,
    collectedMethod: rec.collected_method as HoneypotEvent['collectedMethod'],
    createdByNodeId: rec.created_by_node_id.toLowerCase(),
    origin: 'peer',
    originPeerId: signer,
    responseCode: rec.response_code ?? null,
    auth,
    sourceVerified: rec.source_verified === true,
    sourceCountry: rec.source_country ?? null,
    sourceCity: null,
    peerEnvelope: envelopeText,
  };
}
