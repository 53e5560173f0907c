import type { Endpoint, Startable } from '../../lifecycle.js';
import type { CapturedAuth, Transport } from '../../events/event.js';
import type { SipRequest } from '../wire/types.js';

/** A request as the capture pipeline hands it to the responder. */
export interface InboundRequest {
  msg: SipRequest;
  transport: Transport;
  /** The packet's source (replies go only here). */
  source: Endpoint;
  /** The local address and port the packet reached. */
  local: Endpoint;
  /** Receipt time, epoch microseconds. */
  receivedAtUs: number;
  /** True when the capture layer saw this exact request within 32 s (the responder rules retransmission). */
  retransmission: boolean;
}

/**
 * Sends bytes back to the request's source on the same socket (UDP) or connection (TCP/TLS). The responder may
 * keep it for delayed replies (e.g. `486` after 1 s, INVITE retransmission timers). Sending after the
 * connection closed is a silent no-op.
 */
export interface ReplyChannel {
  send(data: Buffer): void;
  /** False once a stream connection has closed. Always true for UDP. */
  readonly open: boolean;
}

/** What the responder decided for one request; copied into the event. */
export interface ResponderOutcome {
  /** Final status sent or scheduled (e.g. 401, 486), null if nothing is sent. */
  responseCode: number | null;
  /** The UDP source echoed a nonce or To-tag we sent it. */
  sourceVerified: boolean;
}

/**
 * Answers requests in responsive mode. Implementations: the profile responder (deception issue) and
 * anything simpler. Called synchronously on the capture path, before any sink runs; must never throw.
 */
export interface Responder extends Startable {
  handle(req: InboundRequest, reply: ReplyChannel): ResponderOutcome;
}

/**
 * Credential extraction, all modes. Pure: digest parameters from (Proxy-)Authorization, plus the
 * sipvicious From-tag password and its verification.
 */
export type CredentialExtractor = (msg: SipRequest) => CapturedAuth | null;
