import type { Endpoint } from '../lifecycle.js';

/** Responsive profiles. */
export const PROFILES = ['freepbx', 'asterisk', 'freeswitch', 'sentrypeer-classic', 'reject-404', 'redirect'] as const;
export type ProfileName = (typeof PROFILES)[number];

/** `--log-format` values. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** Firewall enforcer backends (`off` = none). */
export const FIREWALL_BACKENDS = ['off', 'nftables', 'ipset'] as const;
export type FirewallBackendName = (typeof FIREWALL_BACKENDS)[number];
export const FIREWALL_SCOPES = ['sip', 'all'] as const;
export type FirewallScope = (typeof FIREWALL_SCOPES)[number];
/** Peer-to-peer engines: our signed libp2p network, SentryPeer's OpenDHT network, or both. */
export const P2P_ENGINES = ['libp2p', 'opendht', 'both'] as const;
export type P2pEngine = (typeof P2P_ENGINES)[number];

export const P2P_SHARE_MODES = ['full', 'no-raw', 'no-credentials'] as const;
export type P2pShareMode = (typeof P2P_SHARE_MODES)[number];

/** Where a setting's effective value came from (`config check` prints it). */
export type ConfigSource = 'default' | 'file' | 'env' | 'cli';

/**
 * The effective, validated, frozen configuration. Built once by `loadConfig()` from
 * defaults < TOML < environment < CLI, then sliced per component. Paths are absolute (resolved against the
 * working directory). Keys are camelCase forms of the long flags.
 */
export interface Config {
  verbose: boolean;
  debug: boolean;
  /** Data directory: `--data-dir`, else dir of `-f`, else the working directory. */
  dataDir: string;
  /** sqlite file: `-f`, else `<dataDir>/sipwarden.db`. */
  dbFile: string;
  jsonLog: boolean;
  /** `-l`, else `<dataDir>/sipwarden_json.log`. */
  jsonLogFile: string;
  peerToPeer: boolean;
  /** `-b` values as given (multiaddr or host[:port]). */
  bootstrap: string[];
  oauth2ClientId: string | null;
  oauth2ClientSecret: string | null;
  oauth2TokenUrl: string;
  oauth2Audience: string;
  api: boolean;
  webhookUrl: string | null;
  webhookSecret: string | null;
  responsive: boolean;
  /** `-R`: no SIP listeners at all. */
  sipDisable: boolean;
  syslog: boolean;
  /** `/path`, `unix:/path` or `udp://host:port`. */
  syslogTarget: string;
  syslogIdent: string;
  cert: string | null;
  key: string | null;
  /** TLS on (default) unless `--no-tls` / `SENTRYPEER_TLS_DISABLE`. */
  tls: boolean;
  sipListen: Endpoint[];
  tlsListen: Endpoint[];
  apiListen: Endpoint[];
  /** Requests/s per source IP averaged over 5 s; 0 = off. */
  apiRateLimit: number;
  apiTokens: string[];
  /** File holding API tokens, one per line (keeps them out of the process list); added to `apiTokens`. */
  apiTokenFile: string | null;
  apiAllowAnonymous: boolean;
  responsiveProfile: ProfileName;
  /** Raw list, e.g. `100-199,2000,alice`. */
  decoyExtensions: string;
  decoyPassword: string | null;
  redirectUri: string | null;
  serverHeader: string | null;
  retentionDays: number;
  /** CIDRs never recorded or shared, normalised text. */
  allow: string[];
  p2pShare: P2pShareMode;
  p2pVerifiedOnly: boolean;
  p2pListen: Endpoint[];
  p2pNetworkKey: string | null;
  p2pAllowPeers: string[];
  /** Which network `-p` joins. */
  p2pEngine: P2pEngine;
  /** UDP port of the OpenDHT node (SentryPeer's is fixed at 4222). */
  opendhtPort: number;
  /** OpenDHT bootstrap nodes (`host[:port]`); when not set: `-b`'s host values, else SentryPeer's public bootstrap. */
  opendhtBootstrap: string[];
  /** Port for OpenDHT bootstrap nodes given without one. */
  opendhtBootstrapPort: number;
  /** Announce/find OpenDHT nodes on the local network by multicast, as SentryPeer does. */
  opendhtPeerDiscovery: boolean;
  /** OpenDHT values accepted per second in total; per sending node a tenth of it (at least 1). */
  opendhtRate: number;
  /** Let unsigned OpenDHT records count for blocklists and enforcement. */
  trustOpendht: boolean;
  /** Firewall enforcer backend; `off` (default) touches no firewall. */
  firewall: FirewallBackendName;
  /** nftables table name (family inet) or ipset name prefix. */
  firewallTable: string;
  /** nftables input chain priority, nft syntax. */
  firewallPriority: string;
  /** `sip`: drop only packets to sipwarden's SIP ports; `all`: every packet. */
  firewallScope: FirewallScope;
  /** Delete the table/sets on stop. */
  firewallCleanup: boolean;
  /** Block policy: seconds an address stays blocked after its last counted hit. */
  blockTtl: number;
  /** Block policy: counted hits before an address qualifies. */
  blockMinHits: number;
  /** Block policy: count only hits from proven sources. */
  blockVerifiedOnly: boolean;
  /** Block policy: count signed peer records. */
  blockPeers: boolean;
  /** Block policy: most blocked addresses per family. */
  blockMax: number;
  /** Call-check: distinct sources that must have called a number before calls to it are blocked. */
  checkNumberMinSources: number;
  /** BGP feed: next hop of IPv4 blackhole routes (a discard address on the routers). */
  bgpNextHop4: string;
  /** BGP feed: next hop of IPv6 blackhole routes. */
  bgpNextHop6: string;
  /** BGP feed: communities added to BLACKHOLE (65535:666), `ASN:VALUE`. */
  bgpCommunity: string[];
  /** BGP feed: large communities `A:B:C`. */
  bgpLargeCommunity: string[];
  /** BGP feed: add NO_EXPORT. */
  bgpNoExport: boolean;
  /** BGP feed: announce a /24 once this many of its addresses are blocked; 0 = only /32 and /128. */
  bgpAggregateMin: number;
  /** BGP feed: most routes per family. */
  bgpMaxRoutes: number;
  /** BGP feed: special-purpose ranges that may be announced anyway (labs). */
  bgpAllowPrefix: string[];
  /** BGP feed: where it serves its own /metrics; null = nowhere. */
  bgpMetricsListen: Endpoint | null;
  /** BGP feed in the node: the unix socket ExaBGP's relay (`bgp-feed --socket`) connects to; null = not run. */
  bgpFeedSocket: string | null;
  /** City/Country mmdb; null = the embedded country database; `none` = no lookups. */
  geoipDb: string | null;
  /** ASN mmdb; null = no ASN lookups. */
  asnDb: string | null;
  // Limits (docs/LIMITS.md)
  /** Max SIP message bytes on any transport. */
  maxMessageBytes: number;
  /** Idle seconds before a TCP/TLS SIP connection is closed. */
  tcpIdleTimeout: number;
  tcpMaxConnectionsPerSource: number;
  tcpMaxConnections: number;
  /** Replies per second per source IP. */
  replyRateLimit: number;
  /** Events held for the store writer before rows are shed (their counts still reach the aggregates). */
  storeBacklog: number;
  /** Seconds a TLS client has to finish its handshake. */
  tlsHandshakeTimeout: number;
  /** Bytes waiting for a TCP/TLS peer that does not read before its connection is closed. */
  tcpMaxUnsentBytes: number;
  /** The TOML file that was read (`-g`, environment or the default path when it exists); absent/null if none. */
  configFile?: string | null;
  /** Which path `configFile` was found at: given (`-g`/environment), sipwarden's default, or SentryPeer's default. */
  configFileOrigin?: 'explicit' | 'sipwarden-default' | 'sentrypeer-default' | null;
  /** Why `dbFile` is what it is: `-f`, `<data-dir>/sipwarden.db`, or SentryPeer's `./sentrypeer.db` kept. */
  dbFileOrigin?: 'explicit' | 'sipwarden-default' | 'sentrypeer-default';
  /** `--log-format`: start-up summary and `-v` probe lines as human text (default) or JSON lines. */
  logFormat?: LogFormat;
  /** Which settings were given explicitly (not defaulted), and from where. */
  sources: Readonly<Record<string, ConfigSource>>;
}

export const DEFAULT_LIMITS = {
  maxMessageBytes: 65_535,
  tcpIdleTimeout: 120,
  tcpMaxConnectionsPerSource: 256,
  tcpMaxConnections: 4_096,
  replyRateLimit: 50,
  storeBacklog: 200_000,
  tlsHandshakeTimeout: 5,
  tcpMaxUnsentBytes: 65_536,
} as const;
