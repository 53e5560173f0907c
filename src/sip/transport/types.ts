import type { Endpoint, Startable } from '../../lifecycle.js';
import type { Transport } from '../../events/event.js';
import type { ReplyChannel } from '../responder/types.js';

/** Where one message came from and which local address it reached. */
export interface MessageMeta {
  transport: Transport;
  source: Endpoint;
  local: Endpoint;
}

/** What the capture pipeline tells a transport about one message. */
export type HandleResult = 'event' | 'retransmission' | 'allowed' | 'ignored' | 'malformed';

/**
 * Consumer of transport input: the capture pipeline. Transports are adapters that turn sockets into
 * `handle(bytes, meta, reply)` calls; SIP logic never touches sockets directly.
 */
export interface MessageHandler {
  handle(bytes: Buffer, meta: MessageMeta, reply: ReplyChannel): HandleResult;
  /** Whether CRLFCRLF keep-alives on streams are answered with CRLF (responsive mode). */
  readonly answersKeepalives: boolean;
}

/** A bound SIP listener (one transport on one configured address). */
export interface SipListener extends Startable {
  /** Bound addresses after start (the configured address with the real port). */
  addresses(): Endpoint[];
}
