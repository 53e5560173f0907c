import type { CapturedAuth, HoneypotEvent } from '../events/event.js';
import { newEventUuid, receiptTime } from '../events/event.js';
import type { Logger } from '../log.js';
import { methodLabel, type Metrics } from '../metrics.js';
import { hashBegin, hashEnd, hashMix, hashMixInt } from './key-hash.js';
import { parseSipMessage } from './wire/parse.js';
import { RecentKeys } from './recent-keys.js';
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
  /** the responder rules, run in every mode. */
  extractCredentials: (msg: import('./wire/types.js').SipRequest) => CapturedAuth | null;
  /** `--allow` sources: answered (when responsive) but never recorded. */
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
 * The retransmission key (transport, source ip:port, top-Via branch, Call-ID, CSeq) as a number (see
 * {@link hashEnd}): numbers, not strings, so remembered keys never keep message text alive.
 */
export function requestKey(transport: string, ip: string, port: number, branch: string, callId: string, cseq: string): number {
  hashBegin();
  hashMix(transport);
  hashMix(ip);
  hashMixInt(port);
  hashMix(branch);
  hashMix(callId);
  hashMix(cseq);
  return hashEnd();
}

/**
 * The capture pipeline: bytes → parse → retransmission check → reply → event. Transports call `handle` for each
 * datagram or framed stream message. It never throws; one bad packet costs a counter, not the process.
 */
export function createCapture(init: CaptureInit): MessageHandler {
  const budgets: ParseBudgets = { ...DEFAULT_BUDGETS, maxMessageBytes: init.maxMessageBytes ?? DEFAULT_BUDGETS.maxMessageBytes };
  const now = init.now ?? Date.now;
  const collectedMethod = init.responder ? 'responsive' : 'passive';
  const recent = new RecentKeys(RETRANSMISSION_WINDOW_MS, MAX_REMEMBERED / 2, now());

  // Hot-path counter children cached per label set (see Metrics.hotCounter).
  const eventCounters = new Map<string, { inc(): void }>();
  function countEvent(transportLabel: string, method: string): void {
    const label = methodLabel(method);
    const k = transportLabel + label;
    let c = eventCounters.get(k);
    if (c === undefined) {
      c = init.metrics.hotCounter(init.metrics.sipEvents, { transport: transportLabel, method: label, origin: 'local' });
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

      // same source ip:port, top-Via branch, Call-ID and CSeq within 32 s → not a new event.
      if (fields.callId !== null || fields.topViaBranch !== null) {
        const key = requestKey(meta.transport, meta.source.ip, meta.source.port, fields.topViaBranch ?? '', fields.callId ?? '', fields.cseq ?? '');
        if (recent.seenElseAdd(key, now())) {
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
        eventUuid: newEventUuid(),
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
        // Invalid UTF-8 becomes U+FFFD here; the exact bytes are kept in sipMessageRaw. A pure-ASCII message
        // reuses the parser's text (same characters), so the event and the header values share one string.
        sipMessage: msg.text ?? msg.raw.toString('utf8'),
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
