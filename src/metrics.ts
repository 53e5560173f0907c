import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** RFC 3261 and extension methods kept as their own `method` label; everything else is `other`. */
export const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO',
  'REFER', 'MESSAGE', 'UPDATE',
]);

/** Bounded label value for a SIP method token. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/**
 * Every Prometheus metric of one node, on its own registry (no global singletons). Components receive this
 * object and increment what they own; `/metrics` serves `registry.metrics()`.
 */
export class Metrics {
  readonly registry = new Registry();

  // capture
  readonly sipEvents: Counter<'transport' | 'method' | 'origin'> = new Counter({ name: 'sipwarden_sip_events_total', help: 'SIP requests recorded as events', labelNames: ['transport', 'method', 'origin'] as const, registers: [this.registry], collect: () => this.flushHot(this.sipEvents) });
  readonly sipMalformed = new Counter({ name: 'sipwarden_sip_malformed_total', help: 'Datagrams/messages that were not SIP requests', labelNames: ['transport', 'reason'] as const, registers: [this.registry] });
  readonly sipBudgetExceeded = new Counter({ name: 'sipwarden_sip_budget_exceeded_total', help: 'Parser budgets exceeded on a request that was still recorded', labelNames: ['budget'] as const, registers: [this.registry] });
  readonly sipRetransmissions = new Counter({ name: 'sipwarden_sip_retransmissions_total', help: 'Retransmitted requests (not new events)', labelNames: ['transport'] as const, registers: [this.registry] });
  readonly sipAllowed = new Counter({ name: 'sipwarden_sip_allowed_total', help: 'Requests from --allow sources (not recorded)', registers: [this.registry] });
  readonly sipKeepalives = new Counter({ name: 'sipwarden_sip_keepalives_total', help: 'CRLF keep-alives and empty datagrams ignored', labelNames: ['transport'] as const, registers: [this.registry] });
  readonly sipReplies: Counter<'transport' | 'status'> = new Counter({ name: 'sipwarden_sip_replies_total', help: 'SIP replies sent', labelNames: ['transport', 'status'] as const, registers: [this.registry], collect: () => this.flushHot(this.sipReplies) });
  readonly sipRepliesSuppressed = new Counter({ name: 'sipwarden_sip_replies_suppressed_total', help: 'Replies not sent because the per-source reply rate cap was reached', registers: [this.registry] });
  readonly sipRepliesBudgeted = new Counter({ name: 'sipwarden_sip_replies_budget_withheld_total', help: 'Replies not sent to an unverified UDP source because they would exceed 3x the bytes it sent (reflection bound)', registers: [this.registry] });
  readonly sipRepliesOversize = new Counter({ name: 'sipwarden_sip_replies_oversize_total', help: 'UDP replies not built or sent because they would exceed the largest datagram (the echo of an oversized request)', registers: [this.registry] });
  readonly tcpConnections = new Gauge({ name: 'sipwarden_sip_connections', help: 'Open TCP/TLS SIP connections', labelNames: ['transport'] as const, registers: [this.registry] });
  readonly tcpRejected = new Counter({ name: 'sipwarden_sip_connections_rejected_total', help: 'TCP/TLS connections refused or closed by a limit', labelNames: ['transport', 'reason'] as const, registers: [this.registry] });
  readonly tlsHandshakeFailures = new Counter({ name: 'sipwarden_tls_handshake_failures_total', help: 'Failed TLS handshakes', registers: [this.registry] });
  readonly credentialsCaptured = new Counter({ name: 'sipwarden_credentials_captured_total', help: 'Digest credentials captured', labelNames: ['password_source'] as const, registers: [this.registry] });
  readonly internalErrors = new Counter({ name: 'sipwarden_internal_errors_total', help: 'Unexpected errors contained to one packet, connection or record', labelNames: ['component'] as const, registers: [this.registry] });

  // store
  readonly storeBatchSeconds = new Histogram({ name: 'sipwarden_store_batch_seconds', help: 'Store batch transaction latency', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly storeDropped = new Counter({ name: 'sipwarden_store_dropped_total', help: 'Events dropped because the store backlog was full', registers: [this.registry] });
  readonly storeQueueDepth = new Gauge({ name: 'sipwarden_store_queue_depth', help: 'Events waiting for the store writer', registers: [this.registry] });
  readonly storeWriteErrors = new Counter({ name: 'sipwarden_store_write_errors_total', help: 'Failed store batch writes (retried)', registers: [this.registry] });

  // store accounting under overload: rows may be shed, counts may not
  readonly storeRowsShed: Counter<'reason'> = new Counter({ name: 'sipwarden_store_rows_shed_total', help: 'Events not written as honey rows (still counted in ip_stats and number_stats), by reason', labelNames: ['reason'] as const, registers: [this.registry], collect: () => this.flushHot(this.storeRowsShed) });
  readonly storeUncounted = new Counter({ name: 'sipwarden_store_uncounted_total', help: 'Events without a row that could not be counted in an aggregate table either (tally bound reached, or lost at shutdown)', labelNames: ['table'] as const, registers: [this.registry] });

  // sinks
  readonly sinkDropped = new Counter({ name: 'sipwarden_sink_dropped_total', help: 'Events dropped by a sink queue or target', labelNames: ['sink'] as const, registers: [this.registry] });
  readonly sinkDelivered = new Counter({ name: 'sipwarden_sink_delivered_total', help: 'Events delivered by a sink', labelNames: ['sink'] as const, registers: [this.registry] });
  readonly sinkErrors = new Counter({ name: 'sipwarden_sink_errors_total', help: 'Sink delivery errors', labelNames: ['sink'] as const, registers: [this.registry] });
  readonly sinkQueueDepth = new Gauge({ name: 'sipwarden_sink_queue_depth', help: 'Events waiting in a sink queue', labelNames: ['sink'] as const, registers: [this.registry] });
  readonly webhookPending = new Gauge({ name: 'sipwarden_webhook_outbox_pending', help: 'Webhook outbox entries pending', registers: [this.registry] });
  readonly webhookDead = new Gauge({ name: 'sipwarden_webhook_outbox_dead', help: 'Webhook outbox entries dead', registers: [this.registry] });

  // API
  readonly apiRequests = new Counter({ name: 'sipwarden_api_requests_total', help: 'API requests', labelNames: ['route', 'status'] as const, registers: [this.registry] });

  // block policy (enforce/policy.ts)
  readonly blockExcluded: Counter<'reason'> = new Counter({ name: 'sipwarden_block_excluded_total', help: 'Recorded events naming a never-blocked address (stored, never blocked or exported)', labelNames: ['reason'] as const, registers: [this.registry], collect: () => this.flushHot(this.blockExcluded) });

  // P2P
  readonly p2pRecordsReceived = new Counter({ name: 'sipwarden_p2p_records_received_total', help: 'Valid peer records stored', registers: [this.registry] });
  readonly p2pRecordsRejected = new Counter({ name: 'sipwarden_p2p_records_rejected_total', help: 'Peer records rejected', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly p2pRecordsPublished = new Counter({ name: 'sipwarden_p2p_records_published_total', help: 'Local events published to peers', registers: [this.registry] });
  readonly p2pRateLimited = new Counter({ name: 'sipwarden_p2p_rate_limited_total', help: 'Peer records dropped by the per-peer or total rate cap', registers: [this.registry] });
  readonly p2pBytes = new Counter({ name: 'sipwarden_p2p_bytes_total', help: 'P2P record bytes', labelNames: ['direction'] as const, registers: [this.registry] });
  readonly p2pPeers = new Gauge({ name: 'sipwarden_p2p_peers', help: 'Connected peers', registers: [this.registry] });
  // OpenDHT engine (SentryPeer's network): values are unsigned, so every refusal is counted by reason.
  readonly opendhtValuesReceived = new Counter({ name: 'sipwarden_opendht_values_received_total', help: 'Values received on the OpenDHT bad_actors key', registers: [this.registry] });
  readonly opendhtValuesAccepted = new Counter({ name: 'sipwarden_opendht_values_accepted_total', help: 'OpenDHT values stored as events of origin opendht', registers: [this.registry] });
  readonly opendhtValuesRejected = new Counter({ name: 'sipwarden_opendht_values_rejected_total', help: 'OpenDHT values refused, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly opendhtValuesPublished = new Counter({ name: 'sipwarden_opendht_values_published_total', help: 'Local events published on OpenDHT (put acknowledged)', registers: [this.registry] });
  readonly opendhtPublishFailures: Counter<'reason'> = new Counter({ name: 'sipwarden_opendht_publish_failures_total', help: 'Local events not published on OpenDHT, by reason', labelNames: ['reason'] as const, registers: [this.registry], collect: () => this.flushHot(this.opendhtPublishFailures) });
  readonly opendhtBootstrapped = new Gauge({ name: 'sipwarden_opendht_bootstrapped', help: '1 when a bootstrap node answered the last ping', registers: [this.registry] });

  // stream transports under attack: backpressure, keep-alive floods, descriptors (docs/LIMITS.md)
  readonly sipKeepalivePongsSuppressed = new Counter({ name: 'sipwarden_sip_keepalive_pongs_suppressed_total', help: 'CRLFCRLF keep-alives not answered because the per-connection pong rate cap was reached', labelNames: ['transport'] as const, registers: [this.registry] });
  readonly descriptorExhaustion = new Counter({ name: 'sipwarden_descriptor_exhaustion_total', help: 'Times no file descriptor could be opened (EMFILE/ENFILE)', registers: [this.registry] });
  readonly tcpConnectionBudget = new Gauge({ name: 'sipwarden_sip_connections_limit', help: 'Effective cap on open TCP/TLS SIP connections (the configured cap, lowered to fit the descriptor limit)', registers: [this.registry] });
  // block set and firewall enforcer (docs/ENFORCE.md)
  readonly blockSetElements = new Gauge({ name: 'sipwarden_block_set_elements', help: 'Addresses in the block set', labelNames: ['family'] as const, registers: [this.registry] });
  readonly blockEvicted = new Counter({ name: 'sipwarden_block_evicted_total', help: 'Addresses evicted from the block set by --block-max (oldest last hit first)', labelNames: ['family'] as const, registers: [this.registry] });
  readonly firewallElements = new Gauge({ name: 'sipwarden_firewall_elements', help: 'Elements sipwarden put in the firewall sets (last applied)', labelNames: ['family'] as const, registers: [this.registry] });
  readonly firewallUpdates = new Counter({ name: 'sipwarden_firewall_updates_total', help: 'Firewall updates applied (one nft/ipset run each)', registers: [this.registry] });
  readonly firewallFailures = new Counter({ name: 'sipwarden_firewall_failures_total', help: 'Firewall updates that failed (retried with backoff)', registers: [this.registry] });
  readonly firewallBlockLatency = new Histogram({ name: 'sipwarden_firewall_block_latency_seconds', help: 'From the event that qualified an address to its element being in the firewall', buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10], registers: [this.registry] });

  /** Pending increments of hot-path counter children, by counter (see {@link hotCounter}). */
  private readonly hot = new Map<object, { labels: Record<string, string>; n: number }[]>();

  /**
   * A labelled child of `counter` for per-packet paths: `inc()` adds to a plain number and the registry receives
   * the sum when it is read (scrape, `get()`), because prom-client hashes the label set into a new string on every
   * increment, even of a cached child (~600 bytes of garbage per event, measured). Only counters declared with
   * `collect: () => this.flushHot(counter)` may be used here.
   */
  hotCounter<L extends string>(counter: Counter<L>, labels: Record<L, string>): { inc(): void } {
    let list = this.hot.get(counter);
    if (list === undefined) {
      list = [];
      this.hot.set(counter, list);
    }
    const entry = { labels: labels as Record<string, string>, n: 0 };
    list.push(entry);
    return {
      inc() {
        entry.n++;
      },
    };
  }

  private flushHot<L extends string>(counter: Counter<L>): void {
    const list = this.hot.get(counter);
    if (list === undefined) return;
    for (const e of list) {
      if (e.n > 0) {
        const n = e.n;
        e.n = 0;
        counter.inc(e.labels as Partial<Record<L, string>>, n);
      }
    }
  }

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'sipwarden_' });
  }
}
