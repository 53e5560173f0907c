/**
 * Peer-to-peer sharing: a libp2p node (TCP, Noise, Yamux, identify, ping, gossipsub with
 * StrictSign) that publishes signed records of local events, validates and delivers peers' records, and
 * catches up with each peer over `/sipwarden/bad-actors-sync/1.0.0`.
 */
import './polyfill.js';
import { setMaxListeners } from 'node:events';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, StrictSign, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { FaultTolerance, type Connection, type PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { Config } from '../config/types.js';
import type { HoneypotEvent } from '../events/event.js';
import { announceListening, warnLine } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Sink } from '../sinks/types.js';
import type { EventStore } from '../store/types.js';
import { endpointToMultiaddr, parseBootstrap, resolveTarget, type BootstrapTarget } from './addr.js';
import { loadOrCreateIdentity } from './identity.js';
import { loadNetworkKey } from './netkey.js';
import { TokenBucket } from './rate.js';
import {
  createRecordSigner,
  envelopeForEvent,
  recordToEvent,
  TOPIC,
  validateEnvelope,
  type RecordSigner,
  type RejectReason,
} from './record.js';
import { fetchPage, MAX_PAGE, serveSync, SYNC_PROTOCOL } from './sync.js';
import type { RecordPager } from '../store/peer-records.js';
import type { PeerInfo } from './types.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** A running P2P node: a Sink for local events plus what `/api/v1/peers` shows. */
export interface P2pNode extends Sink {
  /** Our base58 PeerId (after `start()`). */
  readonly peerId: string;
  /** Known peers: connected ones, and ones we exchanged records with. */
  peers(): PeerInfo[];
  /** Listen multiaddrs including `/p2p/<PeerId>` (after `start()`). */
  multiaddrs(): string[];
}

/** Inputs of {@link createP2pNode}. The numeric limits are optional; defaults in parentheses. */
export interface P2pNodeInit {
  config: Config;
  /** What P2P needs of the store: our node id, the dedupe check and the peer records (built by the store). */
  store: Pick<EventStore, 'nodeId' | 'hasEvent' | 'peerRecords'>;
  metrics: Metrics;
  logger: Logger;
  /** Valid, new peer events: the composition root stores them and sends them to the JSON log, syslog, webhook. */
  onPeerEvent: (event: HoneypotEvent) => void;
  /** `--allow` matcher: such sources are never shared, and peer records about them are ignored. */
  isAllowedSource: (ip: string) => boolean;
  /** Gossip records accepted per signing peer per second (100). */
  perPeerRecordsPerSecond?: number;
  /** Gossip records accepted per second from all peers together (1000; 0 = no cap). */
  totalRecordsPerSecond?: number;
  /** Gossip record bytes accepted per second from all peers together (4 MiB; 0 = no cap). */
  totalBytesPerSecond?: number;
  /** Local records gossiped per second (100: peers drop more than that anyway); the rest reach peers by catch-up. */
  publishRecordsPerSecond?: number;
  /** Records per catch-up page asked for (10,000). */
  syncPageSize?: number;
  /** Catch-up is repeated with every connected peer this often, in ms (60,000; 0 = only on connect). */
  resyncIntervalMs?: number;
  /** First redial delay for a lost `-b` peer, ms (2,000; doubles up to 60 s). */
  redialMinMs?: number;
  /** Print the `listening p2p` lines and the open-node warning (true). */
  announce?: boolean;
}

/** Local events waiting to be signed: bounded like every sink queue. */
const QUEUE_MAX = 10_000;
/** Signing work per macrotask, so a burst of local events never holds the capture thread long. */
const DRAIN_BUDGET_MS = 5;
/** Recently delivered event UUIDs, covering the gap until the store has them queued or committed. */
const RECENT_MAX = 50_000;

/** Gossipsub's default graylist threshold: below it a peer's messages are dropped. */
const GRAYLIST_THRESHOLD = -80;

type Services = { identify: unknown; ping: unknown; pubsub: GossipSub };
/** The gossipsub class has these beyond its public interface. */
type ScoredGossipSub = GossipSub & { getScore(peerId: string): number };

interface PeerStats {
  id: string;
  addresses: string[];
  connectedSince: number | null;
  recordsReceived: number;
  recordsRejected: number;
}

/** Creates the P2P node; nothing touches the network before `start()`. */
export function createP2pNode(init: P2pNodeInit): P2pNode {
  const { config, store, metrics, logger } = init;
  const perPeerRate = init.perPeerRecordsPerSecond ?? 100;
  const totalRecords = new TokenBucket(init.totalRecordsPerSecond ?? 1000);
  const totalBytes = new TokenBucket(init.totalBytesPerSecond ?? 4 * 1024 * 1024);
  const publishBucket = new TokenBucket(init.publishRecordsPerSecond ?? 100);
  const pageSize = Math.min(Math.max(init.syncPageSize ?? MAX_PAGE, 1), MAX_PAGE);
  const resyncMs = init.resyncIntervalMs ?? 60_000;
  const redialMin = init.redialMinMs ?? 2_000;
  const announce = init.announce ?? true;
  const allowPeers = config.p2pAllowPeers.length > 0 ? new Set(config.p2pAllowPeers) : null;
  const isAllowedPeer = allowPeers ? (id: string): boolean => allowPeers.has(id) : undefined;
  const bootstrapTargets: BootstrapTarget[] = config.bootstrap.map(parseBootstrap);

  let node: Libp2p<Services> | null = null;
  let signer: RecordSigner | null = null;
  let ourPeerId = '';
  let started = false;
  let stopping = false;
  const abort = new AbortController();
  // Every dial, catch-up and served page listens on this one signal; many may be in flight at once.
  setMaxListeners(10_000, abort.signal);
  const timers = new Set<NodeJS.Timeout>();

  const peerBuckets = new Map<string, TokenBucket>();
  const stats = new Map<string, PeerStats>();
  const recent = new Set<string>();
  const syncing = new Set<string>();

  const queue: HoneypotEvent[] = [];
  let queueHead = 0;
  let drainScheduled = false;
  let draining: Promise<void> | null = null;
  let insertOwn: ((rows: Array<[string, string, string, number]>) => void) | null = null;
  let pager: RecordPager | null = null;
  let cursorGet: ((peer: string) => string | null) | null = null;
  let cursorSet: ((peer: string, cursor: string) => void) | null = null;

  const statsOf = (id: string): PeerStats => {
    let s = stats.get(id);
    if (!s) {
      s = { id, addresses: [], connectedSince: null, recordsReceived: 0, recordsRejected: 0 };
      if (stats.size > 10_000) {
        // Bounded: forget a disconnected peer first.
        for (const [k, v] of stats) if (v.connectedSince === null) { stats.delete(k); break; }
      }
      stats.set(id, s);
    }
    return s;
  };

  /** Per peer: invalid deliveries, decaying ×0.9 per second (gossipsub's invalidMessageDeliveriesDecay). */
  const strikes = new Map<string, { n: number; at: number }>();
  const strikeCount = (id: string): number => {
    const s = strikes.get(id);
    return s ? s.n * Math.pow(0.9, (Date.now() - s.at) / 1000) : 0;
  };
  /** Same rule as gossipsub: −100 × invalid² (+ small positive terms) below the −80 graylist threshold. */
  const isGraylisted = (id: string): boolean => {
    const score = (node?.services.pubsub as ScoredGossipSub | undefined)?.getScore(id) ?? 0;
    const c = strikeCount(id);
    return Math.min(score, 10 - 100 * c * c) < GRAYLIST_THRESHOLD;
  };

  const reject = (from: string, reason: RejectReason): void => {
    if (strikes.size > 10_000) strikes.clear();
    strikes.set(from, { n: strikeCount(from) + 1, at: Date.now() });
    metrics.p2pRecordsRejected.labels({ reason }).inc();
    statsOf(from).recordsRejected++;
    logger.debug({ peer: from, reason }, 'peer record rejected');
  };

  const remember = (uuid: string): void => {
    recent.add(uuid);
    if (recent.size > RECENT_MAX) {
      // Sets iterate in insertion order: drop the oldest half.
      let n = RECENT_MAX / 2;
      for (const k of recent) {
        recent.delete(k);
        if (--n <= 0) break;
      }
    }
  };

  const nowUs = (): number => Date.now() * 1000;

  /**
   * Validates one envelope and delivers it when new. `from` is the peer that handed it to us (gossip
   * propagation source or catch-up responder); `gossipSigner` is set for gossip.
   */
  const handleEnvelope = (bytes: Uint8Array, from: string, gossipSigner?: string): TopicValidatorResult => {
    const v = validateEnvelope(bytes, { ourNodeId: store.nodeId, ourPeerId, isAllowedPeer, gossipSigner, nowUs: nowUs() });
    if (!v.ok) {
      if (v.reason === 'own') return TopicValidatorResult.Ignore;
      reject(from, v.reason);
      return TopicValidatorResult.Reject;
    }
    const uuid = v.record.event_uuid.toLowerCase();
    if (recent.has(uuid) || store.hasEvent(uuid)) return TopicValidatorResult.Ignore;
    const event = recordToEvent(v.record, v.signer, v.text);
    if (init.isAllowedSource(event.sourceIp)) return TopicValidatorResult.Ignore;
    remember(uuid);
    metrics.p2pRecordsReceived.inc();
    statsOf(from).recordsReceived++;
    try {
      init.onPeerEvent(event);
    } catch (err) {
      metrics.internalErrors.labels({ component: 'p2p' }).inc();
      logger.error({ err }, 'peer event delivery failed');
    }
    return TopicValidatorResult.Accept;
  };

  /** Gossip topic validator: rate caps first (cheap), then the peer-to-peer contract. */
  const validateGossip = (propagationSource: PeerId, msg: Message): TopicValidatorResult => {
    const from = propagationSource.toString();
    metrics.p2pBytes.labels({ direction: 'in' }).inc(msg.data.byteLength);
    if (msg.type !== 'signed') {
      reject(from, 'unsigned');
      return TopicValidatorResult.Reject;
    }
    // Gossipsub caches scores for a heartbeat and lets RPCs through meanwhile; our own mirror of its
    // invalid-delivery penalty drops a bad sender's records from its first rejection on.
    if (isGraylisted(from)) {
      metrics.p2pRecordsRejected.labels({ reason: 'graylisted' }).inc();
      statsOf(from).recordsRejected++;
      return TopicValidatorResult.Ignore;
    }
    const signerId = msg.from.toString();
    let bucket = peerBuckets.get(signerId);
    if (!bucket) {
      bucket = new TokenBucket(perPeerRate);
      if (peerBuckets.size > 10_000) peerBuckets.clear();
      peerBuckets.set(signerId, bucket);
    }
    // Over a cap: dropped and not forwarded, but not held against the relaying peer.
    if (!bucket.take() || !totalRecords.take() || !totalBytes.take(msg.data.byteLength)) {
      metrics.p2pRateLimited.inc();
      return TopicValidatorResult.Ignore;
    }
    try {
      return handleEnvelope(msg.data, from, signerId);
    } catch (err) {
      metrics.internalErrors.labels({ component: 'p2p' }).inc();
      logger.error({ err }, 'peer record handling failed');
      return TopicValidatorResult.Ignore;
    }
  };

  // ---- publishing -------------------------------------------------------------------------------------

  const scheduleDrain = (): void => {
    if (drainScheduled || draining || !started) return;
    drainScheduled = true;
    setImmediate(() => {
      drainScheduled = false;
      draining = drain().finally(() => {
        draining = null;
        if (queue.length - queueHead > 0 && started) scheduleDrain();
      });
    });
  };

  /** Signs queued events within a time budget, stores the envelopes (for catch-up), gossips what the cap allows. */
  const drain = async (): Promise<void> => {
    const t0 = performance.now();
    const rows: Array<[string, string, string, number]> = [];
    const toPublish: string[] = [];
    while (queueHead < queue.length && performance.now() - t0 < DRAIN_BUDGET_MS) {
      const event = queue[queueHead]!;
      queue[queueHead++] = undefined as unknown as HoneypotEvent;
      try {
        const env = envelopeForEvent(event, config.p2pShare, signer!);
        rows.push([event.eventUuid, ourPeerId, env, nowUs()]);
        if (publishBucket.take()) toPublish.push(env);
        else metrics.p2pRateLimited.inc();
      } catch (err) {
        metrics.internalErrors.labels({ component: 'p2p' }).inc();
        logger.error({ err }, 'signing a record failed');
      }
    }
    if (queueHead > 1024 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
    metrics.sinkQueueDepth.labels({ sink: 'p2p' }).set(queue.length - queueHead);
    if (rows.length > 0) {
      try {
        insertOwn!(rows);
      } catch (err) {
        metrics.internalErrors.labels({ component: 'p2p' }).inc();
        logger.error({ err }, 'storing own envelopes failed');
      }
    }
    const enc = new TextEncoder();
    for (const env of toPublish) {
      const data = enc.encode(env);
      try {
        await node!.services.pubsub.publish(TOPIC, data);
        metrics.p2pRecordsPublished.inc();
        metrics.p2pBytes.labels({ direction: 'out' }).inc(data.byteLength);
      } catch (err) {
        metrics.sinkErrors.labels({ sink: 'p2p' }).inc();
        logger.debug({ err }, 'publish failed');
      }
    }
  };

  // ---- catch-up ---------------------------------------------------------------------------------------

  /** Pages through a peer's records after our cursor for it. One run per peer at a time. */
  const catchUp = async (peer: PeerId): Promise<void> => {
    const id = peer.toString();
    if (syncing.has(id) || stopping || !node) return;
    syncing.add(id);
    let total = 0;
    try {
      for (let page = 0; page < 1000 && !stopping; page++) {
        const after = cursorGet!(id);
        const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(60_000)]);
        setMaxListeners(10_000, signal); // every frame read of a page listens on it
        const stream = await node.dialProtocol(peer, SYNC_PROTOCOL, { signal });
        const res = await fetchPage(
          stream,
          { after, limit: pageSize },
          (bytes) => {
            metrics.p2pBytes.labels({ direction: 'in' }).inc(bytes.byteLength);
            handleEnvelope(bytes, id);
          },
          signal,
        );
        total += res.count;
        if (res.next === null) break;
        cursorSet!(id, res.next);
        if (res.count < pageSize) break;
        // Let capture and gossip run between full pages.
        await new Promise((r) => setImmediate(r));
      }
      if (total > 0) logger.info({ peer: id, records: total }, 'caught up with peer');
    } catch (err) {
      if (!stopping) logger.debug({ err, peer: id }, 'catch-up failed');
    } finally {
      syncing.delete(id);
    }
  };

  // ---- bootstrap peers ----------------------------------------------------------------------------------

  /** PeerIds learned by dialling `host[:port]` targets (a `/p2p/` multiaddr names its own). */
  const learned = new Map<BootstrapTarget, string>();
  const isConnectedTo = (t: BootstrapTarget): boolean => {
    const id = t.peerId ?? learned.get(t);
    if (!node || id === undefined) return false;
    return node.getConnections().some((c) => c.remotePeer.toString() === id);
  };

  /** Keeps one `-b` target connected: dial now, and again with backoff whenever the connection is gone. */
  const keepDialled = (t: BootstrapTarget, delay: number): void => {
    const timer = setTimeout(async () => {
      timers.delete(timer);
      if (stopping || !node) return;
      let next = redialMin;
      if (!isConnectedTo(t)) {
        try {
          const addrs = await resolveTarget(t);
          const conn = await node.dial(addrs, { signal: AbortSignal.any([abort.signal, AbortSignal.timeout(10_000)]) });
          learned.set(t, conn.remotePeer.toString());
          logger.info({ peer: t.text }, 'connected to bootstrap peer');
        } catch (err) {
          next = Math.min(Math.max(delay * 2, redialMin), 60_000);
          logger.debug({ err, peer: t.text }, 'bootstrap dial failed');
        }
      }
      if (!stopping) keepDialled(t, next);
    }, delay);
    timer.unref();
    timers.add(timer);
  };

  // ---- lifecycle ----------------------------------------------------------------------------------------

  const self: P2pNode = {
    name: 'p2p',
    get peerId() {
      return ourPeerId;
    },

    async start() {
      if (started) return;
      const key = await loadOrCreateIdentity(config.dataDir);
      ourPeerId = peerIdFromPrivateKey(key).toString();
      signer = createRecordSigner(ourPeerId, key.raw);
      const psk = config.p2pNetworkKey ? loadNetworkKey(config.p2pNetworkKey) : null;

      const records = store.peerRecords();
      insertOwn = (rows) => records.insertOwn(rows);
      pager = records.pager;
      cursorGet = (peer) => records.cursor(peer);
      cursorSet = (peer, cursor) => records.setCursor(peer, cursor, nowUs());

      const explicitListen = config.sources['p2pListen'] !== undefined;
      const listen = config.p2pListen.map(endpointToMultiaddr);
      const gate = (peer: PeerId): boolean => allowPeers !== null && !allowPeers.has(peer.toString());

      node = await createLibp2p<Services>({
        privateKey: key,
        addresses: { listen },
        // A default listener of a missing address family must not stop the node.
        transportManager: { faultTolerance: explicitListen ? FaultTolerance.FATAL_ALL : FaultTolerance.NO_FATAL },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        ...(psk ? { connectionProtector: preSharedKey({ psk }) } : {}),
        connectionGater: {
          denyDialPeer: gate,
          denyInboundEncryptedConnection: gate,
          denyOutboundEncryptedConnection: gate,
        },
        connectionManager: { maxConnections: 300 },
        services: {
          identify: identify(),
          ping: ping(),
          pubsub: gossipsub({
            globalSignaturePolicy: StrictSign,
            allowPublishToZeroTopicPeers: true,
            emitSelf: false,
            // Oversized records must reach the validator so their sender is penalised; 1 MiB bounds an RPC.
            maxInboundDataLength: 1024 * 1024,
            allowedTopics: [TOPIC],
            scoreParams: {
              IPColocationFactorThreshold: 50,
              topics: {
                [TOPIC]: {
                  topicWeight: 1,
                  timeInMeshWeight: 0.01,
                  timeInMeshQuantum: 1000,
                  timeInMeshCap: 3600,
                  firstMessageDeliveriesWeight: 1,
                  firstMessageDeliveriesDecay: 0.5,
                  firstMessageDeliveriesCap: 10,
                  // Quiet honeypots deliver few records; never penalise them for it (p2p-engine.md gotcha 7).
                  meshMessageDeliveriesWeight: 0,
                  meshMessageDeliveriesDecay: 0.5,
                  meshMessageDeliveriesCap: 100,
                  meshMessageDeliveriesThreshold: 1,
                  meshMessageDeliveriesWindow: 10,
                  meshMessageDeliveriesActivation: 5000,
                  meshFailurePenaltyWeight: 0,
                  meshFailurePenaltyDecay: 0.5,
                  // Two invalid records graylist a sender (score below −80).
                  invalidMessageDeliveriesWeight: -100,
                  invalidMessageDeliveriesDecay: 0.9,
                },
              },
            },
          }),
        },
      });
      const pubsub = node.services.pubsub;
      pubsub.topicValidators.set(TOPIC, validateGossip);
      pubsub.subscribe(TOPIC);

      await node.handle(
        SYNC_PROTOCOL,
        async (stream) => {
          try {
            const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(60_000)]);
            setMaxListeners(10_000, signal);
            const n = await serveSync(stream, pager!, nowUs, signal);
            logger.debug({ records: n }, 'served catch-up page');
          } catch (err) {
            stream.abort(err instanceof Error ? err : new SipwardenError(ERROR_CODES.INTERNAL, String(err)));
            logger.debug({ err }, 'catch-up serve failed');
          }
        },
        { maxInboundStreams: 2, maxOutboundStreams: 2 },
      );

      node.addEventListener('connection:open', (evt) => {
        const c: Connection = evt.detail;
        const s = statsOf(c.remotePeer.toString());
        if (s.connectedSince === null) s.connectedSince = Date.now();
        const a = c.remoteAddr.toString();
        if (!s.addresses.includes(a)) s.addresses = [a, ...s.addresses].slice(0, 8);
      });
      node.addEventListener('peer:connect', (evt) => {
        metrics.p2pPeers.set(node?.getPeers().length ?? 0);
        // Give identify a moment so the peer's protocols are known, then catch up.
        const t = setTimeout(() => {
          timers.delete(t);
          void catchUp(evt.detail);
        }, 50);
        t.unref();
        timers.add(t);
      });
      node.addEventListener('peer:disconnect', (evt) => {
        metrics.p2pPeers.set(node?.getPeers().length ?? 0);
        const s = stats.get(evt.detail.toString());
        if (s) s.connectedSince = null;
      });

      await node.start();
      started = true;

      if (announce) {
        for (const ma of node.getMultiaddrs()) announceListening('p2p', ma.toString());
        if (!psk && !allowPeers) {
          warnLine('p2p node is open: any peer that dials it can join; use --p2p-network-key and/or --p2p-allow-peer for a private group');
        }
      }
      for (const t of bootstrapTargets) keepDialled(t, 0);
      if (resyncMs > 0) {
        const iv = setInterval(() => {
          for (const p of node?.getPeers() ?? []) void catchUp(p);
        }, resyncMs);
        iv.unref();
        timers.add(iv);
      }
      scheduleDrain();
    },

    offer(event) {
      // Only our own captures are shared; peer events are never republished.
      if (event.origin !== 'local' || stopping) return;
      if (config.p2pVerifiedOnly && !event.sourceVerified) return;
      if (init.isAllowedSource(event.sourceIp)) return;
      if (queue.length - queueHead >= QUEUE_MAX) {
        metrics.sinkDropped.labels({ sink: 'p2p' }).inc();
        return;
      }
      queue.push(event);
      scheduleDrain();
    },

    peers() {
      const pubsub = node?.services.pubsub as ScoredGossipSub | undefined;
      const out: PeerInfo[] = [];
      const connected = new Set((node?.getPeers() ?? []).map((p) => p.toString()));
      for (const s of stats.values()) {
        const isUp = connected.has(s.id);
        out.push({
          id: s.id,
          addresses: isUp
            ? [...new Set(node!.getConnections().filter((c) => c.remotePeer.toString() === s.id).map((c) => c.remoteAddr.toString()))]
            : s.addresses,
          connectedSince: isUp && s.connectedSince !== null ? new Date(s.connectedSince).toISOString() : null,
          recordsReceived: s.recordsReceived,
          recordsRejected: s.recordsRejected,
          score: pubsub ? Math.round(pubsub.getScore(s.id) * 1000) / 1000 : 0,
        });
      }
      return out.sort((a, b) => a.id.localeCompare(b.id));
    },

    multiaddrs() {
      return node ? node.getMultiaddrs().map((m) => m.toString()) : [];
    },

    async stop() {
      if (stopping) return;
      stopping = true;
      // Sign and store what is queued (catch-up will serve it), then leave the network.
      if (started) {
        if (draining) await draining;
        while (queueHead < queue.length) await drain();
      }
      abort.abort();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      started = false;
      if (node) await node.stop();
      node = null;
    },
  };
  return self;
}
