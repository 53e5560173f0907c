/**
 * The OpenDHT engine: takes part in SentryPeer's public peer-to-peer network. A worker thread runs the native
 * DHT node (see `worker.ts`); this side publishes local events in SentryPeer's value format and turns accepted
 * values into events of origin `opendht`. Those values are unsigned (anyone may write to a public DHT key), so
 * they are never marked verified, never re-shared to libp2p peers, and never enforced or exported unless the
 * operator trusts them (`--trust-opendht`).
 */
import { Worker } from 'node:worker_threads';
import type { Config } from '../../config/types.js';
import { NOT_FOUND, type HoneypotEvent } from '../../events/event.js';
import { announceListening } from '../../lifecycle.js';
import type { Logger } from '../../log.js';
import { escapeAttackerText } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Sink } from '../../sinks/types.js';
import type { OpenDhtInfo } from '../types.js';
import type { BootstrapHost, BootstrapState, OpenDhtCounters, OpenDhtProtocol, OpenDhtStarted, OpenDhtWorkerInit } from './protocol.js';
import { RpcClient } from '../../rpc/index.js';
import { TokenBucket } from '../rate.js';
import { toSentryPeerValue, type SentryPeerValue } from './value.js';
import { SipwardenError, ERROR_CODES } from '../../errors.js';
import { LIBRARY_FILE, LIBRARY_PACKAGE } from './lib.js';

/** A running OpenDHT engine: a Sink for local events. */
export type { OpenDhtInfo };

export interface OpenDhtEngine extends Sink {
  info(): OpenDhtInfo;
}

/** Inputs of {@link createOpenDhtEngine}; numeric limits optional (defaults in parentheses). */
export interface OpenDhtEngineInit {
  config: Config;
  /** This node's `created_by_node_id`. */
  nodeId: string;
  metrics: Metrics;
  logger: Logger;
  /** Values that passed validation, caps and de-duplication, as events of origin `opendht`. */
  onPeerEvent: (event: HoneypotEvent) => void;
  /** Whether the store already holds an event id (values are re-delivered by many DHT nodes). */
  hasEvent: (uuid: string) => boolean;
  /** `--allow` sources: never published, and values naming them are dropped. */
  isAllowedSource: (ip: string) => boolean;
  /** Values accepted per second per sending node id (a tenth of `--opendht-rate`). */
  perSenderPerSecond?: number;
  /** Values accepted per second from everyone together (`--opendht-rate`). */
  totalPerSecond?: number;
  /** Local events published per second (50): the DHT is shared and SentryPeer nodes publish per event too. */
  publishPerSecond?: number;
  /** Bootstrap ping interval, ms (30,000). */
  pingIntervalMs?: number;
  /** Print the `listening opendht` line (true). */
  announce?: boolean;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Parses `-b` values for OpenDHT: `host[:port]` or `[v6]:port`; multiaddrs are libp2p's and are skipped. */
export function opendhtBootstrapHosts(values: readonly string[], defaultPort: number): BootstrapHost[] {
  const out: BootstrapHost[] = [];
  for (const v of values) {
    if (v.startsWith('/')) continue;
    if (v.startsWith('[')) {
      const end = v.indexOf(']');
      const rest = v.slice(end + 1);
      out.push({ host: v.slice(1, end), port: rest.startsWith(':') ? Number(rest.slice(1)) : defaultPort });
      continue;
    }
    const colon = v.lastIndexOf(':');
    if (colon > 0 && v.indexOf(':') === colon) out.push({ host: v.slice(0, colon), port: Number(v.slice(colon + 1)) });
    else out.push({ host: v, port: defaultPort });
  }
  return out;
}

/** Starts the worker module next to this one (`.js` in dist/; `.ts` under tsx, whose loader it registers first). */
function spawnWorker(data: OpenDhtWorkerInit): Worker {
  const self = import.meta.url;
  const opts = { workerData: data, name: 'sipwarden-opendht' };
  if (self.endsWith('.ts')) {
    const url = new URL('./worker.ts', self).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { ...opts, eval: true });
  }
  return new Worker(new URL('./worker.js', self), opts);
}

/** The event for an accepted value: the sender's fields as received (as SentryPeer stores them), origin `opendht`. */
export function valueToEvent(v: SentryPeerValue, timeUs: number): HoneypotEvent {
  return {
    eventUuid: v.event_uuid,
    eventTimestamp: v.event_timestamp,
    eventTimeUs: timeUs,
    sourceIp: v.source_ip,
    sourcePort: null,
    destinationIp: v.destination_ip,
    destinationPort: null,
    transport: v.transport_type as HoneypotEvent['transport'],
    method: v.sip_method,
    requestUriUser: null,
    toUser: null,
    calledNumber: v.called_number === '' ? NOT_FOUND : v.called_number,
    calledNumberE164: null,
    userAgent: v.sip_user_agent === '' ? NOT_FOUND : escapeAttackerText(v.sip_user_agent),
    sipMessage: v.sip_message,
    sipMessageRaw: null,
    collectedMethod: v.collected_method as HoneypotEvent['collectedMethod'],
    createdByNodeId: v.created_by_node_id,
    origin: 'opendht',
    originPeerId: null,
    responseCode: null,
    auth: null,
    // Anyone can write anything to a public DHT key: nothing received there proves a source address.
    sourceVerified: false,
    sourceCountry: null,
    sourceCity: null,
    // No envelope: OpenDHT values are never served to libp2p peers by catch-up.
    peerEnvelope: null,
  };
}

/** Creates the engine; nothing touches the network before `start()`. */
export function createOpenDhtEngine(init: OpenDhtEngineInit): OpenDhtEngine {
  const { config, metrics, logger } = init;
  const bootstrap = opendhtBootstrapHosts(config.opendhtBootstrap, config.opendhtBootstrapPort);
  const announce = init.announce ?? true;
  let worker: RpcClient<OpenDhtProtocol> | null = null;
  let stopping: Promise<void> | null = null;
  let last: OpenDhtCounters = { received: 0, accepted: 0, rejected: {}, published: 0, publishFailed: 0, publishSkipped: {} };
  let state: BootstrapState = bootstrap.length > 0 ? 'starting' : 'none';
  let dhtNodeId: string | null = null;
  const publishPerSecond = init.publishPerSecond ?? 50;
  const publishBucket = new TokenBucket(publishPerSecond, publishPerSecond * 2);
  const publishRateSkipped = metrics.hotCounter(metrics.opendhtPublishFailures, { reason: 'rate' });
  let boundPort: number | null = null;

  /** Turns the worker's cumulative counters into metric increments. */
  const account = (c: OpenDhtCounters): void => {
    metrics.opendhtValuesReceived.inc(c.received - last.received);
    for (const [reason, n] of Object.entries(c.rejected)) {
      const d = n - (last.rejected[reason as keyof OpenDhtCounters['rejected']] ?? 0);
      if (d > 0) metrics.opendhtValuesRejected.inc({ reason }, d);
    }
    metrics.opendhtValuesPublished.inc(c.published - last.published);
    metrics.opendhtPublishFailures.inc({ reason: 'put_failed' }, c.publishFailed - last.publishFailed);
    for (const [reason, n] of Object.entries(c.publishSkipped)) {
      const d = n - (last.publishSkipped[reason as keyof OpenDhtCounters['publishSkipped']] ?? 0);
      if (d > 0) metrics.opendhtPublishFailures.inc({ reason }, d);
    }
    last = structuredClone(c);
  };

  /** An accepted value from the worker: checked against --allow and the store, then turned into an event. */
  const onValue = (m: OpenDhtProtocol['fromWorker']['value']): void => {
    const v = m.value;
    if (init.isAllowedSource(v.source_ip)) {
      metrics.opendhtValuesRejected.inc({ reason: 'allowed_source' });
      return;
    }
    if (init.hasEvent(v.event_uuid)) {
      metrics.opendhtValuesRejected.inc({ reason: 'duplicate' });
      return;
    }
    metrics.opendhtValuesAccepted.inc();
    init.onPeerEvent(valueToEvent(v, m.timeUs));
  };

  const onStats = (m: OpenDhtProtocol['fromWorker']['stats']): void => {
    account(m.counters);
    state = m.bootstrap;
    metrics.opendhtBootstrapped.set(state === 'connected' ? 1 : 0);
  };

  return {
    name: 'opendht',
    async start() {
      if (worker !== null) return;
      const data: OpenDhtWorkerInit = {
        // For an OpenDHT installed outside the loader's path (and for tests of the missing-library case).
        libraryFile: process.env.SIPWARDEN_OPENDHT_LIBRARY || undefined,
        port: config.opendhtPort,
        bootstrap,
        peerDiscovery: config.opendhtPeerDiscovery,
        ourNodeId: init.nodeId,
        perSenderPerSecond: init.perSenderPerSecond ?? Math.max(1, Math.floor(config.opendhtRate / 10)),
        totalPerSecond: init.totalPerSecond ?? config.opendhtRate,
        pingIntervalMs: init.pingIntervalMs ?? 30_000,
      };
      const w = spawnWorker(data);
      const rpc = new RpcClient<OpenDhtProtocol>(w, { notes: { value: onValue, stats: onStats } });
      worker = rpc;
      // A worker that crashes before answering fails the call (SW_WORKER_EXITED); its 'error' is logged below.
      w.on('error', (err) => logger.error({ err }, 'OpenDHT worker failed'));
      let timer: NodeJS.Timeout | undefined;
      const started = await Promise.race([
        rpc.call('started', undefined),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SipwardenError(ERROR_CODES.LISTEN_FAILED, 'the OpenDHT node did not start within 10 s')), START_TIMEOUT_MS);
        }),
      ]).then(
        (s: OpenDhtStarted) => {
          clearTimeout(timer);
          return s;
        },
        async (err: unknown) => {
          clearTimeout(timer);
          worker = null;
          await rpc.terminate();
          const msg = err instanceof Error ? err.message : String(err);
          if ((err as { code?: unknown } | null)?.code === ERROR_CODES.OPENDHT_UNAVAILABLE) {
            throw new SipwardenError(
              ERROR_CODES.OPENDHT_UNAVAILABLE,
              `--p2p-engine opendht needs the OpenDHT C library (${LIBRARY_FILE}): install the Debian package ${LIBRARY_PACKAGE}`,
              2,
            );
          }
          throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `--opendht-port ${config.opendhtPort}: ${msg}`, 1);
        },
      );
      dhtNodeId = started.dhtNodeId;
      boundPort = started.port4 || started.port6;
      if (announce) announceListening('opendht', `udp/${boundPort} node ${dhtNodeId}`);
      logger.info({ dhtNodeId, port: boundPort, bootstrap: bootstrap.map((b) => `${b.host}:${b.port}`), version: started.version }, 'OpenDHT node started');
    },
    offer(event) {
      // Only our own captures are published, as SentryPeer does; --allow sources are never shared.
      if (worker === null || event.origin !== 'local' || init.isAllowedSource(event.sourceIp)) return;
      // Capped here, before the copy to the worker, so a flood of probes costs the capture thread one check each.
      if (!publishBucket.take()) {
        publishRateSkipped.inc();
        return;
      }
      worker.notify('put', toSentryPeerValue(event));
    },
    info() {
      return {
        nodeId: dhtNodeId,
        port: boundPort,
        bootstrap: bootstrap.map((b) => (b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`)),
        bootstrapState: state,
        valuesReceived: last.received,
        valuesAccepted: last.accepted,
        valuesRejected: Object.values(last.rejected).reduce((a, b) => a + (b ?? 0), 0),
        valuesPublished: last.published,
      };
    },
    stop() {
      if (stopping) return stopping;
      const w = worker;
      if (w === null) return Promise.resolve();
      stopping = new Promise<void>((resolve) => {
        const timer = setTimeout(() => void w.terminate().finally(resolve), STOP_TIMEOUT_MS);
        void w.exited.then(() => {
          clearTimeout(timer);
          resolve();
        });
        w.call('stop', undefined).then(account, () => undefined);
      }).finally(() => {
        worker = null;
      });
      return stopping;
    },
  };
}
