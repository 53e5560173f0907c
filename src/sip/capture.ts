import type { CapturedAuth, HoneypotEvent } from '../events/event.js';
import { newUuid, receiptTime } from '../events/event.js';
import type { Logger } from '../log.js';
import { methodLabel, type Metrics } from '../metrics.js';
import { parseSipMessage } from './wire/parse.js';
import { extractFields } from './wire/extract.js';
import { DEFAULT_BUDGETS, type ParseBudgets } from './wire/types.js';
import type { ReplyChannel, Responder, ResponderOutcome } from './responder/types.js';
import type { HandleResult, MessageHandler, MessageMeta } from './transport/types.js';

/** How long a request key is remembered for retransmission detection (RFC 3261 Timer B/F = 64·T1 ≈ 32 s). */
export const RETRANSMISSION_WINDOW_MS = 32_000;
/** Bound on remembered request keys; the oldest go first. */
const MAX_REMEMBERED = 200_000;

export interface CaptureInit {
  nodeId: string;
  /** Responsive mode: answers go out through this before any sink runs. Null = passive. */
  responder: Responder | null;
  /** SPEC §7.6, run in every mode. */
  extractCredentials: (msg: import('./wire/types.js').SipRequest) => CapturedAuth | null;
  /** `--allow` sources: answered (when responsive) but never recorded (SPEC §5.5). */
  isAllowed: (ip: string) => boolean;
  /** Receives every new event (store, sinks, peers are wired by node.ts). */
  onEvent: (event: HoneypotEvent) => void;
  metrics: Metrics;
  logger: Logger;
  maxMessageBytes?: number;
  now?: () => number;
}

const NO_OUTCOME: ResponderOutcome = { responseCode: null, sourceVerified: false };

/**
 * A 53-bit hash of the retransmission key (transport, source ip:port, top-Via branch, Call-ID, CSeq), from two
 * independent 32-bit FNV-1a variants. Numbers, not strings: a string key built from header values keeps each
 * message's text alive through V8's sliced and concatenated strings (measured: ~150 MB at 20k requests/s). A false
 * match needs two distinct requests with equal 53-bit hashes within 32 s (≈2·10⁻⁶ at 200,000 remembered keys).
 */
export function requestKey(transport: string, ip: string, port: number, branch: string, callId: string, cseq: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 15);
    }
    // Separator, so ("ab","c") and ("a","bc") differ.
    h1 = Math.imul(h1 ^ 0x7c, 0x01000193);
    h2 = Math.imul(h2 ^ 0x7c, 0x01000193) ^ (h2 >>> 15);
  };
  mix(transport);
  mix(ip);
  mix(String(port));
  mix(branch);
  mix(callId);
  mix(cseq);
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) >>> 11);
}

/**
 * The capture pipeline: bytes → parse → retransmission check → reply → event. Transports call `handle` for each
 * datagram or framed stream message. It never throws; one bad packet costs a counter, not the process.
 */
export function createCapture(init: CaptureInit): MessageHandler {
  const budgets: ParseBudgets = { ...DEFAULT_BUDGETS, maxMessageBytes: init.maxMessageBytes ?? DEFAULT_BUDGETS.maxMessageBytes };
  const now = init.now ?? Date.now;
  const collectedMethod = init.responder ? 'responsive' : 'passive';
  // Two generations of request keys (key → first-seen ms). A lookup checks both; the young one becomes the old one
  // every window (or when it is full), so memory stays bounded and no per-packet trimming or iterator is needed.
  let young = new Map<number, number>();
  let old = new Map<number, number>();
  let rotatedAt = now();

  function isRetransmission(key: number, t: number): boolean {
    if (t - rotatedAt >= RETRANSMISSION_WINDOW_MS || young.size >= MAX_REMEMBERED / 2) {
      old = young;
      young = new Map();
      rotatedAt = t;
    }
    const at = young.get(key) ?? old.get(key);
    if (at !== undefined && t - at < RETRANSMISSION_WINDOW_MS) return true;
    young.set(key, t);
    return false;
  }

  // Labelled counter children cached per label set: prom-client hashes the labels object on every inc().
  const eventCounters = new Map<string, { inc(): void }>();
  function countEvent(transportLabel: string, method: string): void {
    const label = methodLabel(method);
    const k = transportLabel + label;
    let c = eventCounters.get(k);
    if (c === undefined) {
      c = init.metrics.sipEvents.labels({ transport: transportLabel, method: label, origin: 'local' });
      eventCounters.set(k, c);
    }
    c.inc();
  }

  function handle(bytes: Buffer, meta: MessageMeta, reply: ReplyChannel): HandleResult {
    const transportLabel = meta.transport.toLowerCase();
    try {
      const parsed = parseSipMessage(bytes, budgets);
      if (!parsed.ok) {
        if (parsed.reason === 'empty') {
          init.metrics.sipKeepalives.inc({ transport: transportLabel });
          return 'ignored';
        }
        init.metrics.sipMalformed.inc({ transport: transportLabel, reason: parsed.reason });
        return 'malformed';
      }
      const msg = parsed.msg;
      for (const b of msg.budgetExceeded) init.metrics.sipBudgetExceeded.inc({ budget: b });
      const fields = extractFields(msg);
      const time = receiptTime();

      // SPEC §7.2: same source ip:port, top-Via branch, Call-ID and CSeq within 32 s → not a new event.
      if (fields.callId !== null || fields.topViaBranch !== null) {
        const key = requestKey(meta.transport, meta.source.ip, meta.source.port, fields.topViaBranch ?? '', fields.callId ?? '', fields.cseq ?? '');
        if (isRetransmission(key, now())) {
          init.metrics.sipRetransmissions.inc({ transport: transportLabel });
          init.responder?.handle(
            { msg, transport: meta.transport, source: meta.source, local: meta.local, receivedAtUs: time.eventTimeUs, retransmission: true },
            reply,
          );
          return 'retransmission';
        }
      }

      const outcome = init.responder
        ? init.responder.handle(
            { msg, transport: meta.transport, source: meta.source, local: meta.local, receivedAtUs: time.eventTimeUs, retransmission: false },
            reply,
          )
        : NO_OUTCOME;

      if (init.isAllowed(meta.source.ip)) {
        init.metrics.sipAllowed.inc();
        return 'allowed';
      }

      const auth = init.extractCredentials(msg);
      if (auth) init.metrics.credentialsCaptured.inc({ password_source: auth.passwordSource ?? 'none' });
      const event: HoneypotEvent = {
        eventUuid: newUuid(),
        eventTimestamp: time.eventTimestamp,
        eventTimeUs: time.eventTimeUs,
        sourceIp: meta.source.ip,
        sourcePort: meta.source.port,
        destinationIp: meta.local.ip,
        destinationPort: meta.local.port,
        transport: meta.transport,
        method: msg.method,
        requestUriUser: fields.requestUriUser,
        toUser: fields.toUser,
        calledNumber: fields.calledNumber,
        calledNumberE164: fields.calledNumberE164,
        userAgent: fields.userAgent,
        // Invalid UTF-8 becomes U+FFFD here; the exact bytes are kept in sipMessageRaw.
        sipMessage: msg.raw.toString('utf8'),
        sipMessageRaw: msg.rawIsUtf8 ? null : Buffer.from(msg.raw),
        collectedMethod,
        createdByNodeId: init.nodeId,
        origin: 'local',
        originPeerId: null,
        responseCode: outcome.responseCode,
        auth,
        sourceVerified: meta.transport !== 'UDP' || outcome.sourceVerified,
        sourceCountry: null,
        sourceCity: null,
        peerEnvelope: null,
      };
      countEvent(transportLabel, msg.method);
      init.onEvent(event);
      return 'event';
    } catch (err) {
      init.metrics.internalErrors.inc({ component: 'capture' });
      init.logger.error({ err }, 'capture failed for one message');
      return 'ignored';
    }
  }

  return { handle, answersKeepalives: init.responder !== null };
}
