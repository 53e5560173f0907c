import type { Startable } from '../lifecycle.js';
import type { HoneypotEvent } from '../events/event.js';

/**
 * A queued, asynchronous consumer of events (JSON log, syslog, webhook, P2P publisher). `offer` must return
 * immediately; it never throws and never blocks capture. Queues are bounded (10,000 events or 16 MiB,
 * the capture rules); overflow drops and counts `sipwarden_sink_dropped_total{sink}`.
 */
export interface Sink extends Startable {
  readonly name: string;
  offer(event: HoneypotEvent): void;
  /** SIGHUP: reopen files/sockets. Optional. */
  reopen?(): void;
}
