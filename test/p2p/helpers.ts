/**
 * Helpers for in-process P2P component tests: a Config with P2P defaults, a small EventStore over a real
 * sqlite file with the real schema (peer_records/peer_cursors as in production), and a sample local event.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Config } from '../../src/config/types.js';
import { newUuid, receiptTime, type HoneypotEvent } from '../../src/events/event.js';
import { peerRecordsOn } from '../../src/store/peer-records.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import type { EventStore } from '../../src/store/types.js';

export function testConfig(dataDir: string, over: Partial<Config> = {}): Config {
  return {
    verbose: false, debug: false, dataDir, dbFile: join(dataDir, 'sipwarden.db'), jsonLog: false,
    jsonLogFile: join(dataDir, 'sipwarden_json.log'), peerToPeer: true, bootstrap: [], oauth2ClientId: null,
    oauth2ClientSecret: null, oauth2TokenUrl: '', oauth2Audience: '', api: false, webhookUrl: null, webhookSecret: null,
    responsive: false, sipDisable: true, syslog: false, syslogTarget: '/dev/log', syslogIdent: 'sipwarden', cert: null,
    key: null, tls: false, sipListen: [], tlsListen: [], apiListen: [], apiRateLimit: 0, apiTokens: [], apiTokenFile: null,
    apiAllowAnonymous: false, responsiveProfile: 'freepbx', decoyExtensions: '100-199', decoyPassword: null,
    redirectUri: null, serverHeader: null, retentionDays: 0, allow: [], p2pShare: 'no-credentials',
    p2pVerifiedOnly: false, p2pListen: [{ ip: '127.0.0.1', port: 0 }], p2pNetworkKey: null, p2pAllowPeers: [],
    geoipDb: null, asnDb: null, maxMessageBytes: 65535, tcpIdleTimeout: 120, tcpMaxConnectionsPerSource: 256,
    tcpMaxConnections: 4096, replyRateLimit: 50, storeBacklog: 200_000, sources: { p2pListen: 'cli' },
    tlsHandshakeTimeout: 5, tcpMaxUnsentBytes: 65_536,
    blockTtl: 86_400, blockMinHits: 1, blockVerifiedOnly: true, blockPeers: true, blockMax: 200_000, checkNumberMinSources: 3,
    bgpNextHop4: '192.0.2.1', bgpNextHop6: '100::1', bgpCommunity: [], bgpLargeCommunity: [], bgpNoExport: true, bgpAggregateMin: 0,
    bgpMaxRoutes: 100_000, bgpAllowPrefix: [], bgpMetricsListen: null, bgpFeedSocket: null,
    firewall: 'off', firewallTable: 'sipwarden', firewallPriority: 'filter - 10', firewallScope: 'sip', firewallCleanup: false,
    p2pEngine: 'libp2p', opendhtPort: 0, opendhtBootstrap: [], opendhtBootstrapPort: 4222, opendhtPeerDiscovery: false,
    opendhtRate: 1000, trustOpendht: false,
    ...over,
  };
}

/** What P2P uses of the store, plus what the test store keeps: every appended event, in order, and its connection. */
export interface TestStore extends Pick<EventStore, 'nodeId' | 'path' | 'start' | 'stop' | 'append' | 'flush' | 'hasEvent' | 'peerRecords'> {
  events: HoneypotEvent[];
  /** The test's own connection, for assertions. */
  db: Database.Database;
}

/** A synchronous EventStore on a real sqlite file: migrations applied, peer_records filled as the real store does. */
export function createTestStore(path: string): TestStore {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS) db.exec(m.sql);
  const nodeId = newUuid();
  const events: HoneypotEvent[] = [];
  const uuids = new Set<string>();
  const insPeer = db.prepare('INSERT OR IGNORE INTO peer_records (event_uuid, origin_peer_id, envelope, received_at_us) VALUES (?, ?, ?, ?)');
  return {
    nodeId,
    db,
    path,
    events,
    async start() {},
    async stop() {
      db.close();
    },
    append(e) {
      events.push(e);
      uuids.add(e.eventUuid);
      if (e.peerEnvelope) insPeer.run(e.eventUuid, e.originPeerId ?? '', e.peerEnvelope, Date.now() * 1000);
    },
    async flush() {},
    hasEvent: (u) => uuids.has(u),
    peerRecords: () => peerRecordsOn(db),
  };
}

/** A local event as capture would make it. */
export function sampleEvent(nodeId: string, over: Partial<HoneypotEvent> = {}): HoneypotEvent {
  return {
    eventUuid: newUuid(), ...receiptTime(), sourceIp: '203.0.113.7', sourcePort: 5070, destinationIp: '127.0.0.1',
    destinationPort: 5060, transport: 'UDP', method: 'OPTIONS', requestUriUser: '100', toUser: '100',
    calledNumber: '100', calledNumberE164: null, userAgent: 'sipsak 0.9.8.1',
    sipMessage: 'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.7:5070\r\n\r\n', sipMessageRaw: null,
    collectedMethod: 'passive', createdByNodeId: nodeId, origin: 'local', originPeerId: null, responseCode: null,
    auth: null, sourceVerified: false, sourceCountry: null, sourceCity: null, peerEnvelope: null,
    ...over,
  };
}
