/**
 * Composition root: the only place that wires components together. Builds config → store → sinks → p2p →
 * responder → capture → SIP listeners → API, and stops them in reverse.
 */
import { readFileSync } from 'node:fs';
import { checkSinks, checkTlsFiles, ensureDataDir, explainStoreError, probeLine, summaryHead, summaryTail } from './cli/startup.js';
import type { Config } from './config/types.js';
import { createIpMatcher } from './net/ip.js';
import { createExclusionFeed } from './enforce/exclusion-feed.js';
import { ExclusionReporter } from './enforce/policy.js';
import { ERROR_CODES, SipwardenError } from './errors.js';
import type { HoneypotEvent } from './events/event.js';
import { announceListening, setLineFormat, warnLine, type Endpoint, type Startable } from './lifecycle.js';
import { createLogger, logLevel, type Logger } from './log.js';
import { Metrics, methodLabel } from './metrics.js';
import { createCapture } from './sip/capture.js';
import { extractCredentials } from './sip/responder/credentials.js';
import { createResponder } from './sip/responder/index.js';
import type { Responder } from './sip/responder/types.js';
import { ConnectionTable, createStreamListener } from './sip/transport/stream.js';
import { loadOrCreateTlsMaterial } from './sip/transport/tls-cert.js';
import { DescriptorWatch, connectionBudget, descriptorLimit } from './sip/transport/descriptors.js';
import type { SipListener } from './sip/transport/types.js';
import { UDP_RECV_BUFFER, createUdpListener } from './sip/transport/udp.js';
import { jsonLogObserver } from './sinks/json-log.js';
import { createSyslogSink } from './sinks/syslog.js';
import type { Sink } from './sinks/types.js';
import { createWebhookSink } from './sinks/webhook.js';
import { createSqliteStore } from './store/sqlite.js';
import { checkGeoDatabases } from './geo/check.js';
import type { EventStore } from './store/types.js';
import type { OpenDhtInfo, PeerInfo } from './p2p/types.js';
import type { BlockSet } from './enforce/blockset.js';

/** A started node. */
export interface RunningNode {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: EventStore;
  /** The block set and its change stream (present with the firewall enforcer, the API or the BGP feed socket). */
  readonly blockSet: BlockSet | null;
  /** Stops input first, then commits store and outbox, then drains sinks. Idempotent. */
  stop(): Promise<void>;
  /** SIGHUP: reopen the JSON log and syslog socket. */
  reopen(): void;
}

/** Was this setting given explicitly (not a default)? */
function explicit(config: Config, key: keyof Config): boolean {
  const s = config.sources[key];
  return s !== undefined && s !== 'default';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts every configured component. Throws SipwardenError (exit 1) when an explicit listener cannot bind, no SIP
 * listener opened (unless -R), or the store cannot be opened.
 */
export async function startNode(config: Config): Promise<RunningNode> {
  setLineFormat(config.logFormat ?? 'text');
  const logger = createLogger(logLevel(config));
  const metrics = new Metrics();
  const started: Startable[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of started.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        logger.error({ err }, 'stop failed');
      }
    }
  };

  try {
    // Checked before anything opens or listens: a bad data dir, -t/-k pair or explicitly set sink is exit 2.
    ensureDataDir(config);
    const tlsFiles = checkTlsFiles(config, (p) => readFileSync(p));
    await checkSinks(config);
    // GeoIP/ASN files: a missing or corrupt one is a config error (exit 2) before anything opens or listens.
    const geo = checkGeoDatabases(config);
    if (config.bgpFeedSocket !== null) {
      const { checkFeedSocketPath } = await import('./bgp/socket-server.js');
      checkFeedSocketPath(config.bgpFeedSocket);
    }

    // Store first: everything else needs the node id and the database.
    // The store names its own component in its log lines (a second child binding would repeat the key).
    // Typed as the EventStore interface: the composition root, like every consumer, never touches the database.
    const store: EventStore = createSqliteStore({ path: config.dbFile, metrics, logger, retentionDays: config.retentionDays, maxBacklog: config.storeBacklog, geo });
    // The webhook enables the store's outbox, which must happen before the store starts so the rows
    // are written inside the batch transaction.
    const sinks: Sink[] = [];
    if (config.webhookUrl) {
      sinks.push(
        createWebhookSink({
          url: config.webhookUrl,
          secret: config.webhookSecret,
          oauth2:
            config.oauth2ClientId && config.oauth2ClientSecret
              ? { clientId: config.oauth2ClientId, clientSecret: config.oauth2ClientSecret, tokenUrl: config.oauth2TokenUrl, audience: config.oauth2Audience }
              : null,
          store,
          metrics,
          logger: logger.child({ component: 'webhook' }),
        }),
      );
    }
    if (config.jsonLog) {
      // The JSON log runs in the store's writer thread, on the batches the store already sends there (the JSON-log format:
      // written off the capture path).
      store.addBatchObserver(jsonLogObserver(config.jsonLogFile));
    }
    try {
      await store.start();
    } catch (err) {
      if (err instanceof SipwardenError) throw explainStoreError(err, config.dbFile);
      throw explainStoreError(new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, `${config.dbFile}: ${describe(err)}`, 1, { cause: err }), config.dbFile);
    }
    // Stopped last: after input stopped and the sinks drained.
    started.push(store);
    summaryHead(config, store.nodeId);

    // Sinks (queued, asynchronous). The webhook outbox rides the store's batch transaction.
    if (config.syslog) sinks.push(createSyslogSink({ target: config.syslogTarget, ident: config.syslogIdent, metrics, logger: logger.child({ component: 'syslog' }) }));
    for (const s of sinks) {
      await s.start();
      started.push(s);
    }

    const allow = createIpMatcher(config.allow);
    // The never-blocked list: records naming one of its addresses are stored (evidence) but logged once and counted.
    const exclusionFeed = createExclusionFeed({ config, logger: logger.child({ component: 'exclusions' }) });
    await exclusionFeed.start();
    started.push(exclusionFeed);
    const excludedLog = logger.child({ component: 'exclusions' });
    const excludedReporter = new ExclusionReporter(
      (ip, reason) => excludedLog.info({ ip, reason }, 'a record names a never-blocked address: stored, but never blocked or exported'),
      // Per event on the capture thread: hot counters (no label hashing per increment).
      (() => {
        const byReason = new Map<string, { inc(): void }>();
        return (reason: string) => {
          let c = byReason.get(reason);
          if (c === undefined) byReason.set(reason, (c = metrics.hotCounter(metrics.blockExcluded, { reason })));
          c.inc();
        };
      })(),
    );
    const toSinks = (event: HoneypotEvent): void => {
      const excluded = exclusionFeed.exclusions.reason(event.sourceIp);
      if (excluded !== null) excludedReporter.note(event.sourceIp, excluded);
      store.append(event);
      for (const s of sinks) s.offer(event);
    };

    // Peers: their events go to store and sinks, never back to peers (nor from one network to the other).
    let peers: (() => PeerInfo[]) | undefined;
    let opendht: (() => OpenDhtInfo) | undefined;
    const publishers: Sink[] = [];
    if (config.peerToPeer && config.p2pEngine !== 'opendht') {
      const { createP2pNode } = await import('./p2p/node.js');
      const p2p = createP2pNode({
        config,
        store,
        metrics,
        logger: logger.child({ component: 'p2p' }),
        onPeerEvent: (event) => {
          // /metrics counts events by origin; local ones are counted by the capture pipeline.
          metrics.sipEvents.inc({ transport: event.transport.toLowerCase(), method: methodLabel(event.method), origin: 'peer' });
          toSinks(event);
        },
        isAllowedSource: (ip) => allow.matches(ip),
      });
      await p2p.start();
      started.push(p2p);
      publishers.push(p2p);
      peers = () => p2p.peers();
      exclusionFeed.setPeerSource(peers);
    }

    // Block set (the change stream the firewall enforcer, the BGP feed and API stream readers consume), fed by the
    // store's committed batches.
    let blockSet: BlockSet | null = null;
    if (config.firewall !== 'off' || config.api || config.bgpFeedSocket !== null) {
      const { createBlockSet } = await import('./enforce/blockset.js');
      const { blockPolicyFromConfig } = await import('./enforce/policy.js');
      const { blockSetCounters } = await import('./enforce/firewall.js');
      blockSet = createBlockSet({
        onCommit: (l) => store.onCommit(l),
        facts: store.blockSetSource(),
        policy: blockPolicyFromConfig(config),
        exclusions: exclusionFeed.exclusions,
        logger: logger.child({ component: 'blockset' }),
        counters: blockSetCounters(metrics),
      });
      await blockSet.start();
      started.push(blockSet);
    }
    if (config.peerToPeer && config.p2pEngine !== 'libp2p') {
      const { createOpenDhtEngine } = await import('./p2p/opendht/engine.js');
      const dht = createOpenDhtEngine({
        config,
        nodeId: store.nodeId,
        metrics,
        logger: logger.child({ component: 'opendht' }),
        onPeerEvent: (event) => {
          metrics.sipEvents.inc({ transport: event.transport.toLowerCase(), method: methodLabel(event.method), origin: 'opendht' });
          toSinks(event);
        },
        hasEvent: (uuid) => store.hasEvent(uuid),
        isAllowedSource: (ip) => allow.matches(ip),
      });
      await dht.start();
      started.push(dht);
      publishers.push(dht);
      opendht = () => dht.info();
    }
    const publisher: Sink | null =
      publishers.length === 0 ? null : publishers.length === 1 ? publishers[0]! : { name: 'p2p', start: async () => {}, stop: async () => {}, offer: (e) => { for (const p of publishers) p.offer(e); } };

    const sipListeners: SipListener[] = [];
    let responder: Responder | null = null;
    if (!config.sipDisable) {
      if (config.responsive) {
        const profileResponder = createResponder({
          profile: config.responsiveProfile,
          decoyExtensions: config.decoyExtensions,
          decoyPassword: config.decoyPassword,
          redirectUri: config.redirectUri,
          serverHeader: config.serverHeader,
          replyRateLimit: config.replyRateLimit,
          metrics,
          logger: logger.child({ component: 'responder' }),
        });
        await profileResponder.start();
        started.push(profileResponder);
        responder = profileResponder;
      }
      // TLS material before any listener opens: a creation failure only turns TLS off, with a warning.
      let material: { cert: Buffer; key: Buffer } | null = tlsFiles;
      if (!material && config.tls && config.tlsListen.length > 0) {
        try {
          material = await loadOrCreateTlsMaterial({ cert: null, key: null, dataDir: config.dataDir });
        } catch (err) {
          warnLine(`TLS disabled: ${describe(err)}`);
        }
      }
      const toCapture = publisher
        ? (e: HoneypotEvent): void => {
            toSinks(e);
            publisher!.offer(e);
          }
        : toSinks;
      const capture = createCapture({
        nodeId: store.nodeId,
        responder,
        extractCredentials,
        isAllowed: (ip) => allow.matches(ip),
        onEvent: config.verbose
          ? (e) => {
              probeLine(e);
              toCapture(e);
            }
          : toCapture,
        metrics,
        logger: logger.child({ component: 'capture' }),
        maxMessageBytes: config.maxMessageBytes,
      });

      let warnedBuffer = false;
      const onSmallBuffer = (granted: number): void => {
        if (warnedBuffer) return;
        warnedBuffer = true;
        warnLine(
          `UDP receive buffer is ${granted} bytes, wanted ${UDP_RECV_BUFFER}; bursts may be lost. Raise it with: sysctl -w net.core.rmem_max=${UDP_RECV_BUFFER}`,
        );
      };
      const limits = {
        maxMessageBytes: config.maxMessageBytes,
        idleTimeoutMs: config.tcpIdleTimeout * 1000,
        maxConnectionsPerSource: config.tcpMaxConnectionsPerSource,
        maxConnections: config.tcpMaxConnections,
        handshakeTimeoutMs: config.tlsHandshakeTimeout * 1000,
        maxUnsentBytes: config.tcpMaxUnsentBytes,
      };
      const sipLogger = logger.child({ component: 'sip' });
      // SIP connections may never take the descriptors the store, logs, UDP and the API need.
      const fdLimit = descriptorLimit();
      const connections = new ConnectionTable(limits, connectionBudget(fdLimit));
      metrics.tcpConnectionBudget.set(connections.cap);
      if (connections.cap < limits.maxConnections) {
        sipLogger.warn({ descriptorLimit: fdLimit, cap: connections.cap }, `SIP TCP/TLS connections capped at ${connections.cap} by the descriptor limit ${fdLimit}`);
      }
      const descriptors = new DescriptorWatch(metrics, sipLogger);
      await descriptors.start();
      started.push(descriptors);
      const onDescriptorExhaustion = (err: Error): void => descriptors.report(err, 'accept');

      const register = (listener: SipListener, kind: 'udp' | 'tcp' | 'tls'): void => {
        sipListeners.push(listener);
        started.push(listener);
        for (const a of listener.addresses()) announceListening(kind, a);
      };
      /** Binds one listener; explicit ones must bind (exit 1), a default of a missing family only warns. */
      const open = async (listener: SipListener, kind: 'udp' | 'tcp' | 'tls', at: Endpoint, mustBind: boolean, announce = true): Promise<void> => {
        try {
          await listener.start();
        } catch (err) {
          const where = at.ip.includes(':') ? `[${at.ip}]:${at.port}` : `${at.ip}:${at.port}`;
          if (mustBind) throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `cannot listen ${kind} ${where}: ${describe(err)}`, 1, { cause: err });
          warnLine(`cannot listen ${kind} ${where}: ${describe(err)}`);
          return;
        }
        if (announce) register(listener, kind);
      };

      const sipExplicit = explicit(config, 'sipListen');
      for (const at of config.sipListen) {
        const tcpFor = (port: number): SipListener =>
          createStreamListener({ kind: 'TCP', listen: { ip: at.ip, port }, handler: capture, limits, connections, metrics, logger: sipLogger, onDescriptorExhaustion });
        if (at.port !== 0) {
          await open(createUdpListener({ listen: at, handler: capture, metrics, logger: sipLogger, onSmallBuffer }), 'udp', at, sipExplicit);
          await open(tcpFor(at.port), 'tcp', at, sipExplicit);
          continue;
        }
        // Ephemeral: TCP takes the port UDP was given; when TCP finds it taken, both try again on a new port.
        for (let attempt = 1; ; attempt++) {
          const udp = createUdpListener({ listen: at, handler: capture, metrics, logger: sipLogger, onSmallBuffer });
          await open(udp, 'udp', at, sipExplicit, false);
          const port = udp.addresses()[0]?.port;
          if (port === undefined) break; // UDP failed and only warned
          const tcp = tcpFor(port);
          try {
            await tcp.start();
          } catch (err) {
            await udp.stop();
            if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
            const where = at.ip.includes(':') ? `[${at.ip}]:${port}` : `${at.ip}:${port}`;
            if (sipExplicit) throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `cannot listen tcp ${where}: ${describe(err)}`, 1, { cause: err });
            warnLine(`cannot listen tcp ${where}: ${describe(err)}`);
            break;
          }
          register(udp, 'udp');
          register(tcp, 'tcp');
          break;
        }
      }

      if (config.tls && config.tlsListen.length > 0) {
        if (material) {
          const tlsExplicit = explicit(config, 'tlsListen');
          for (const at of config.tlsListen) {
            await open(
              createStreamListener({ kind: 'TLS', listen: at, handler: capture, limits, connections, metrics, logger: sipLogger, tls: material, onDescriptorExhaustion }),
              'tls',
              at,
              tlsExplicit,
            );
          }
        }
      }
      if (sipListeners.length === 0) {
        throw new SipwardenError(ERROR_CODES.NO_SIP_LISTENER, 'no SIP listener could be opened (use -R for an API-only node)', 1);
      }
    }

    if (blockSet !== null && config.firewall !== 'off') {
      // After the listeners: the nftables rules match the SIP ports actually bound.
      const { createEnforcer } = await import('./enforce/enforcer.js');
      const { enforcerCounters, firewallBackend, firewallStateFile } = await import('./enforce/firewall.js');
      const ports = new Set<number>();
      for (const l of sipListeners) for (const a of l.addresses()) ports.add(a.port);
      const enforcer = createEnforcer({
        backend: firewallBackend(config, [...ports]),
        blockSet,
        logger: logger.child({ component: 'firewall' }),
        counters: enforcerCounters(metrics),
        cleanup: config.firewallCleanup,
        stateFile: firewallStateFile(config),
      });
      await enforcer.start();
      started.push(enforcer);
    }

    if (blockSet !== null && config.bgpFeedSocket !== null) {
      // The BGP feed in the node: ExaBGP's relay process connects here (docs/BGP.md).
      const { createFeedSocketServer } = await import('./bgp/socket-server.js');
      const { FeedMetrics } = await import('./bgp/feed.js');
      const { routeSettingsFromConfig } = await import('./bgp/routes.js');
      const feedServer = createFeedSocketServer({
        path: config.bgpFeedSocket,
        blockSet,
        settings: routeSettingsFromConfig(config),
        metrics: new FeedMetrics(metrics.registry, 'node'),
        logger: logger.child({ component: 'bgp' }),
      });
      await feedServer.start();
      started.push(feedServer);
    }

    let apiBound: Endpoint[] = [];
    if (config.api) {
      const { createApiServer } = await import('./api/server.js');
      // The API names its own component in its log lines.
      const api = createApiServer({ config, dbPath: config.dbFile, metrics, logger, peers, opendht, exclusionFeed, blockSet, onCommit: (l) => store.onCommit(l) });
      try {
        await api.start();
      } catch (err) {
        throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `cannot listen http: ${describe(err)}`, 1, { cause: err });
      }
      started.push(api);
      apiBound = api.addresses();
    }
    summaryTail(config, apiBound);

    logger.info({ nodeId: store.nodeId, responsive: responder !== null }, 'started');

    let stopping: Promise<void> | null = null;
    return {
      config,
      logger,
      metrics,
      store,
      blockSet,
      stop() {
        // started[] is in start order: listeners and API come last, so reverse order stops input first.
        stopping ??= stopAll();
        return stopping;
      },
      reopen() {
        store.reopenObservers();
        for (const s of sinks) s.reopen?.();
        if (geo !== null) {
          // New lookups use the new files; when one cannot be used the old databases stay (and we say why).
          void store.reloadGeo().then(
            (failure) => failure === null
              ? logger.info({ component: 'geo', geoipDb: geo.geoip, asnDb: geo.asn }, 'GeoIP/ASN databases reloaded')
              : logger.warn({ component: 'geo', err: failure }, 'GeoIP/ASN reload failed; keeping the databases in use'),
            (err: unknown) => logger.warn({ component: 'geo', err: (err as Error).message }, 'GeoIP/ASN reload failed'),
          );
        }
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
