/**
 * The settings catalogue: one row per setting, naming its flags, environment variables and
 * TOML keys, its parser and its help text. `load.ts` applies the layers; `help.ts` prints the table.
 */
import { resolve } from 'node:path';
import type { Endpoint } from '../lifecycle.js';
import { DEFAULT_LIMITS, FIREWALL_BACKENDS, FIREWALL_SCOPES, LOG_FORMATS, P2P_ENGINES, P2P_SHARE_MODES, PROFILES, type Config } from './types.js';
import { parseCidr, formatCidr, parseEndpoint, normalizeIp, ipFamily } from '../net/ip.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** Thrown by value parsers; the loader adds the flag/variable/file:line. */
export class BadValue extends SipwardenError {
  constructor(message: string) {
    super(ERROR_CODES.CONFIG_INVALID, message, 2);
    this.name = 'BadValue';
  }
}

/** Settings that are plain Config fields (everything except `sources`). */
export type SettingKey = Exclude<keyof Config, 'sources' | 'configFile' | 'configFileOrigin' | 'dbFileOrigin'>;

export type SettingKind = 'bool' | 'value' | 'list';

/** One setting. */
export interface SettingDef {
  key: SettingKey;
  /** Canonical long flag, without dashes. */
  long: string;
  short?: string;
  kind: SettingKind;
  /** Parses one raw value (for lists: one item). `cwd` resolves relative paths. */
  parse?: (raw: string, cwd: string) => unknown;
  /** TOML value is an integer rather than a string. */
  int?: boolean;
  /** TOML value may be a string, an integer or a boolean (parsed from its text form, like the CLI value). */
  tomlScalar?: boolean;
  /** Environment variables, highest priority first. */
  env: readonly string[];
  /** TOML keys (first is canonical). */
  toml: readonly string[];
  secret?: boolean;
  /** Metavariable for help, e.g. `FILE`. */
  arg?: string;
  help: string;
  /** Shown in help when not obvious from the defaults. */
  defaultText?: string;
}

/** Quotes a user value for an error message: one line, bounded length. */
export function show(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

function text(raw: string): string {
  if (raw === '') throw new BadValue('must not be empty');
  if (CONTROL.test(raw)) throw new BadValue('must not contain control characters');
  return raw;
}

function path(raw: string, cwd: string): string {
  text(raw);
  return raw === ':memory:' ? raw : resolve(cwd, raw);
}

/** `--geoip-db`: a file, or `none` for no country lookups at all (not even the embedded database). */
function geoDbPath(raw: string, cwd: string): string {
  return raw === 'none' ? raw : path(raw, cwd);
}

function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const s = raw.trim();
    if (!/^[0-9]+$/.test(s) || Number(s) < min || Number(s) > max) {
      throw new BadValue(`invalid number ${show(raw)} (expected an integer from ${min} to ${max})`);
    }
    return Number(s);
  };
}

function endpoint(raw: string): Endpoint {
  const e = parseEndpoint(raw.trim());
  if (!e) throw new BadValue(`invalid address ${show(raw)} (expected IP:PORT, IPv6 as [IP]:PORT)`);
  return e;
}

function cidr(raw: string): string {
  const c = parseCidr(raw.trim());
  if (!c) throw new BadValue(`invalid CIDR ${show(raw)} (expected IP or IP/LEN)`);
  return formatCidr(c);
}

function httpUrl(raw: string): string {
  text(raw);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new BadValue(`invalid URL ${show(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BadValue(`URL ${show(raw)} must be http or https`);
  return raw;
}

function oneOf<T extends string>(values: readonly T[]): (raw: string) => T {
  return (raw) => {
    const v = raw.trim();
    if (!(values as readonly string[]).includes(v)) {
      throw new BadValue(`unknown value ${show(raw)} (expected one of: ${values.join(', ')})`);
    }
    return v as T;
  };
}

/** `100-199,2000,alice`: ranges `N-M` (N <= M) and single users; returns the trimmed list text. */
export function parseDecoyExtensions(raw: string): string {
  const items = raw.split(',').map((s) => s.trim());
  for (const item of items) {
    if (item === '') throw new BadValue(`invalid list ${show(raw)} (empty item)`);
    const r = /^([0-9]{1,15})-([0-9]{1,15})$/.exec(item);
    if (r) {
      if (Number(r[1]) > Number(r[2])) throw new BadValue(`invalid range ${show(item)} (start after end)`);
      continue;
    }
    if (!/^[A-Za-z0-9._~!$&'()*+;=%-]{1,64}$/.test(item)) {
      throw new BadValue(`invalid item ${show(item)} (expected N-M or a user name)`);
    }
  }
  return items.join(',');
}

function syslogTarget(raw: string): string {
  text(raw);
  if (raw.startsWith('/')) return raw;
  if (raw.startsWith('unix:/')) return raw;
  const m = /^udp:\/\/(\[[^\]]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(raw);
  if (m && Number(m[2]) >= 1 && Number(m[2]) <= 65535) {
    if (m[1]!.startsWith('[') && !parseEndpoint(`${m[1]}:1`)) throw new BadValue(`invalid syslog target ${show(raw)}`);
    return raw;
  }
  throw new BadValue(`invalid syslog target ${show(raw)} (expected /path, unix:/path or udp://host:port)`);
}

function syslogIdent(raw: string): string {
  if (!/^[A-Za-z0-9._-]{1,48}$/.test(raw)) throw new BadValue(`invalid ident ${show(raw)} (letters, digits, . _ -)`);
  return raw;
}

function redirectUri(raw: string): string {
  text(raw);
  if (!/^(sips?|tel):[^\s<>"]+$/i.test(raw)) throw new BadValue(`invalid URI ${show(raw)} (expected sip:, sips: or tel:)`);
  return raw;
}

function serverHeader(raw: string): string {
  text(raw);
  if (raw.length > 256) throw new BadValue('longer than 256 characters');
  return raw;
}

function token(raw: string): string {
  if (raw === '' || /[\s\x00-\x1f\x7f]/.test(raw)) throw new BadValue('must be non-empty without spaces or control characters');
  return raw;
}

function secretText(raw: string): string {
  if (raw === '') throw new BadValue('must not be empty');
  if (CONTROL.test(raw)) throw new BadValue('must not contain control characters');
  return raw;
}

function bootstrap(raw: string): string {
  const s = raw.trim();
  if (s.startsWith('/')) {
    if (!/^\/(ip4|ip6|dns|dns4|dns6)\/[^\s]+$/.test(s)) throw new BadValue(`invalid multiaddr ${show(raw)}`);
    return s;
  }
  const m = /^(\[[^\]]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(s);
  if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
    throw new BadValue(`invalid bootstrap node ${show(raw)} (expected a multiaddr or host[:port])`);
  }
  if (m[1]!.startsWith('[') && !parseEndpoint(`${m[1]}:1`)) throw new BadValue(`invalid bootstrap node ${show(raw)}`);
  return s;
}

/** An OpenDHT bootstrap node: `host[:port]` or `[v6]:port` (no multiaddr: that is libp2p's form). */
function opendhtHost(raw: string): string {
  const s = raw.trim();
  if (s.startsWith('/')) throw new BadValue(`${show(raw)} is a libp2p multiaddr; OpenDHT takes host[:port]`);
  return bootstrap(s);
}

function peerId(raw: string): string {
  const s = raw.trim();
  if (!/^[1-9A-HJ-NP-Za-km-z]{40,100}$/.test(s)) throw new BadValue(`invalid PeerId ${show(raw)} (base58)`);
  return s;
}

/** A duration: seconds, or a number with `s`, `m`, `h` or `d` (`86400`, `24h`, `90m`); 1 s to 365 days. */
export function parseDuration(raw: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(raw.trim());
  const n = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]! : NaN;
  if (!(n >= 1 && n <= 31_536_000)) throw new BadValue(`invalid duration ${show(raw)} (expected seconds, or N with s, m, h or d; 1s to 365d)`);
  return n;
}

/** An IP address of one family (a BGP next hop). */
function ipOf(family: 4 | 6): (raw: string) => string {
  return (raw) => {
    const ip = normalizeIp(raw.trim());
    if (ip === null || ipFamily(ip) !== family) throw new BadValue(`invalid IPv${family} address ${show(raw)}`);
    return ip;
  };
}

/** A BGP community `ASN:VALUE`, each 0–65535. */
function community(raw: string): string {
  const m = /^([0-9]{1,5}):([0-9]{1,5})$/.exec(raw.trim());
  if (!m || Number(m[1]) > 65_535 || Number(m[2]) > 65_535) throw new BadValue(`invalid community ${show(raw)} (expected ASN:VALUE, each 0-65535)`);
  return `${Number(m[1])}:${Number(m[2])}`;
}

/** A BGP large community `A:B:C`, each 0–4294967295. */
function largeCommunity(raw: string): string {
  const m = /^([0-9]{1,10}):([0-9]{1,10}):([0-9]{1,10})$/.exec(raw.trim());
  if (!m || [m[1], m[2], m[3]].some((x) => Number(x) > 4_294_967_295)) throw new BadValue(`invalid large community ${show(raw)} (expected A:B:C, each 0-4294967295)`);
  return `${Number(m[1])}:${Number(m[2])}:${Number(m[3])}`;
}

/** An on/off value of a setting that defaults to on: true/false, yes/no, on/off, 1/0. */
export function parseOnOff(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new BadValue(`invalid value ${show(raw)} (expected true or false)`);
}

/** An nftables table / ipset prefix name: a letter, then letters, digits, `_` or `-`; at most 20 (ipset names). */
function firewallTable(raw: string): string {
  const v = raw.trim();
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,19}$/.test(v)) throw new BadValue(`invalid name ${show(raw)} (a letter, then up to 19 letters, digits, _ or -)`);
  return v;
}

/** An nftables chain priority: an integer, or a standard name with an optional `+ N` / `- N`. */
function firewallPriority(raw: string): string {
  const v = raw.trim();
  const m = /^(?:(raw|mangle|dstnat|filter|security|srcnat)(?:\s*([+-])\s*([0-9]{1,4}))?|(-?[0-9]{1,5}))$/.exec(v);
  if (!m) throw new BadValue(`invalid priority ${show(raw)} (expected e.g. "filter - 10" or -10)`);
  if (m[4] !== undefined) return m[4];
  return m[2] === undefined ? m[1]! : `${m[1]} ${m[2]} ${m[3]}`;
}

/** SP's environment name when it differs from ours. */
const sp = (x: string): string[] => [`SIPWARDEN_${x}`, `SENTRYPEER_${x}`];

function def(
  d: Omit<SettingDef, 'env' | 'toml'> & { spEnv?: string; env?: string[]; toml?: string[] },
): SettingDef {
  const canonical = `SIPWARDEN_${d.long.toUpperCase().replace(/-/g, '_')}`;
  const env = d.env ?? [canonical, ...(d.spEnv ? sp(d.spEnv).filter((n) => n !== canonical) : [])];
  const toml = d.toml ?? [d.long.replace(/-/g, '_')];
  const { spEnv: _ignored, ...rest } = d;
  return { ...rest, env, toml };
}

/** Every setting, in help order. */
export const SETTINGS: readonly SettingDef[] = [
  def({ key: 'verbose', long: 'verbose', short: 'v', kind: 'bool', spEnv: 'VERBOSE', help: 'verbose log and one line per probe on stderr' }),
  def({ key: 'debug', long: 'debug', short: 'd', kind: 'bool', spEnv: 'DEBUG', help: 'debug log on stderr' }),
  def({ key: 'logFormat', long: 'log-format', kind: 'value', parse: oneOf(LOG_FORMATS), arg: 'F', help: 'start-up summary and -v probe lines: text or json' }),
  def({ key: 'dataDir', long: 'data-dir', kind: 'value', parse: path, arg: 'DIR', help: 'data directory', defaultText: 'directory of -f, else the working directory' }),
  def({ key: 'dbFile', long: 'db-file', short: 'f', kind: 'value', parse: path, arg: 'FILE', spEnv: 'DB_FILE', help: 'sqlite database', defaultText: '<data-dir>/sipwarden.db' }),
  def({ key: 'jsonLog', long: 'json-log', short: 'j', kind: 'bool', spEnv: 'JSON_LOG', help: 'write the JSON event log' }),
  def({ key: 'jsonLogFile', long: 'json-log-file', short: 'l', kind: 'value', parse: path, arg: 'FILE', spEnv: 'JSON_LOG_FILE', help: 'JSON log file (implies -j)', defaultText: '<data-dir>/sipwarden_json.log' }),
  def({ key: 'responsive', long: 'responsive', short: 'r', kind: 'bool', spEnv: 'SIP_RESPONSIVE', help: 'answer SIP requests' }),
  def({ key: 'sipDisable', long: 'sip-disable', short: 'R', kind: 'bool', spEnv: 'SIP_DISABLE', help: 'open no SIP listeners (API/P2P-only node)' }),
  def({ key: 'sipListen', long: 'sip-listen', kind: 'list', parse: endpoint, arg: 'A:P', help: 'SIP UDP+TCP listener (repeatable)', defaultText: '0.0.0.0:5060, [::]:5060' }),
  def({ key: 'tlsListen', long: 'tls-listen', short: 'z', kind: 'list', parse: endpoint, arg: 'A:P', spEnv: 'TLS_LISTEN_ADDRESS', toml: ['tls_listen', 'tls_listen_address'], help: 'SIP TLS listener (repeatable)', defaultText: '0.0.0.0:5061, [::]:5061' }),
  def({ key: 'tls', long: 'tls', kind: 'bool', env: ['SIPWARDEN_TLS'], help: 'SIP over TLS (--no-tls turns it off)', defaultText: 'on' }),
  def({ key: 'cert', long: 'cert', short: 't', kind: 'value', parse: path, arg: 'CERT', spEnv: 'CERT', help: 'TLS certificate PEM (needs -k)', defaultText: '<data-dir>/tls-cert.pem, self-signed' }),
  def({ key: 'key', long: 'key', short: 'k', kind: 'value', parse: path, arg: 'KEY', spEnv: 'KEY', help: 'TLS private key PEM (needs -t)', defaultText: '<data-dir>/tls-key.pem' }),
  def({ key: 'responsiveProfile', long: 'responsive-profile', kind: 'value', parse: oneOf(PROFILES), arg: 'P', help: `reply profile: ${PROFILES.join(', ')}` }),
  def({ key: 'decoyExtensions', long: 'decoy-extensions', kind: 'value', parse: parseDecoyExtensions, arg: 'L', help: 'users that "exist" (ranges N-M and names, comma separated)' }),
  def({ key: 'decoyPassword', long: 'decoy-password', kind: 'value', parse: secretText, secret: true, arg: 'P', help: 'password a decoy REGISTER succeeds with' }),
  def({ key: 'redirectUri', long: 'redirect-uri', kind: 'value', parse: redirectUri, arg: 'U', help: 'Contact of profile redirect\'s 302' }),
  def({ key: 'serverHeader', long: 'server-header', kind: 'value', parse: serverHeader, arg: 'S', help: "overrides the profile's Server header" }),
  def({ key: 'api', long: 'api', short: 'a', kind: 'bool', spEnv: 'API', help: 'serve the REST API' }),
  def({ key: 'apiListen', long: 'api-listen', kind: 'list', parse: endpoint, arg: 'A:P', help: 'API listener (repeatable)' }),
  def({ key: 'apiTokens', long: 'api-token', kind: 'list', parse: token, secret: true, arg: 'T', help: 'bearer token required by the API (repeatable)' }),
  def({ key: 'apiTokenFile', long: 'api-token-file', kind: 'value', parse: path, arg: 'FILE', help: 'API bearer tokens, one per line (unlike --api-token, not visible in ps)' }),
  def({ key: 'apiAllowAnonymous', long: 'api-allow-anonymous', kind: 'bool', help: 'allow a non-loopback API without a token' }),
  def({ key: 'apiRateLimit', long: 'api-rate-limit', kind: 'value', parse: integer(0, 1_000_000), int: true, arg: 'N', help: 'API requests/s per source IP over 5 s (0 = off)' }),
  def({ key: 'webhookUrl', long: 'webhook-url', short: 'w', kind: 'value', parse: httpUrl, arg: 'URL', spEnv: 'WEBHOOK_URL', help: 'POST each event to this http(s) URL' }),
  def({ key: 'webhookSecret', long: 'webhook-secret', kind: 'value', parse: secretText, secret: true, arg: 'S', help: 'HMAC-SHA256 signing secret for the webhook' }),
  def({ key: 'oauth2ClientId', long: 'oauth2-client-id', short: 'i', kind: 'value', parse: text, arg: 'ID', spEnv: 'OAUTH2_CLIENT_ID', help: 'OAuth2 client id for the webhook (needs -c)' }),
  def({ key: 'oauth2ClientSecret', long: 'oauth2-client-secret', short: 'c', kind: 'value', parse: secretText, secret: true, arg: 'SECRET', spEnv: 'OAUTH2_CLIENT_SECRET', help: 'OAuth2 client secret (needs -i)' }),
  def({ key: 'oauth2TokenUrl', long: 'oauth2-token-url', kind: 'value', parse: httpUrl, arg: 'U', help: 'OAuth2 token endpoint' }),
  def({ key: 'oauth2Audience', long: 'oauth2-audience', kind: 'value', parse: text, arg: 'A', help: 'OAuth2 audience' }),
  def({ key: 'syslog', long: 'syslog', short: 's', kind: 'bool', spEnv: 'SYSLOG', help: 'send one syslog line per event' }),
  def({ key: 'syslogTarget', long: 'syslog-target', kind: 'value', parse: syslogTarget, arg: 'T', help: 'syslog target: /path, unix:/path or udp://host:port' }),
  def({ key: 'syslogIdent', long: 'syslog-ident', kind: 'value', parse: syslogIdent, arg: 'N', help: 'syslog ident (sentrypeer suits old filters)' }),
  def({ key: 'peerToPeer', long: 'peer-to-peer', short: 'p', kind: 'bool', spEnv: 'PEER_TO_PEER', help: 'share events with peers (network: --p2p-engine)' }),
  def({ key: 'bootstrap', long: 'bootstrap', short: 'b', kind: 'list', parse: bootstrap, arg: 'HOST', spEnv: 'BOOTSTRAP_NODE', help: 'peer to dial: multiaddr or host[:port] (repeatable)' }),
  def({ key: 'p2pListen', long: 'p2p-listen', kind: 'list', parse: endpoint, arg: 'A:P', help: 'P2P listener (repeatable)' }),
  def({ key: 'p2pShare', long: 'p2p-share', kind: 'value', parse: oneOf(P2P_SHARE_MODES), arg: 'MODE', help: `what is shared: ${P2P_SHARE_MODES.join(', ')}` }),
  def({ key: 'p2pVerifiedOnly', long: 'p2p-verified-only', kind: 'bool', help: 'share only events from verified sources' }),
  def({ key: 'p2pNetworkKey', long: 'p2p-network-key', kind: 'value', parse: path, arg: 'F', help: 'libp2p swarm.key (private network)' }),
  def({ key: 'p2pAllowPeers', long: 'p2p-allow-peer', kind: 'list', parse: peerId, arg: 'ID', help: 'accept only these PeerIds (repeatable)' }),
  def({ key: 'p2pEngine', long: 'p2p-engine', kind: 'value', parse: oneOf(P2P_ENGINES), arg: 'E', help: `network -p joins: ${P2P_ENGINES.join(', ')} (opendht = SentryPeer's)` }),
  def({ key: 'opendhtPort', long: 'opendht-port', kind: 'value', parse: integer(0, 65_535), int: true, arg: 'PORT', help: 'OpenDHT node UDP port (0 = any)' }),
  def({ key: 'opendhtBootstrap', long: 'opendht-bootstrap', kind: 'list', parse: opendhtHost, arg: 'HOST', help: 'OpenDHT bootstrap node host[:port] (repeatable)', defaultText: "-b's host values, else bootstrap.sentrypeer.org" }),
  def({ key: 'opendhtBootstrapPort', long: 'opendht-bootstrap-port', kind: 'value', parse: integer(1, 65_535), int: true, arg: 'PORT', help: 'port of OpenDHT bootstrap nodes given without one' }),
  def({ key: 'opendhtPeerDiscovery', long: 'opendht-peer-discovery', kind: 'value', parse: parseOnOff, tomlScalar: true, arg: 'BOOL', help: 'find OpenDHT nodes on the local network by multicast', defaultText: 'on' }),
  def({ key: 'opendhtRate', long: 'opendht-rate', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'OpenDHT values accepted per second (a tenth of it per sending node)' }),
  def({ key: 'trustOpendht', long: 'trust-opendht', kind: 'bool', help: 'let unsigned OpenDHT records count for blocklists and enforcement' }),
  def({ key: 'allow', long: 'allow', kind: 'list', parse: cidr, arg: 'CIDR', help: 'sources never recorded or shared (repeatable)' }),
  def({ key: 'retentionDays', long: 'retention-days', kind: 'value', parse: integer(0, 36_500), int: true, arg: 'N', help: 'delete events older than N days (0 = keep all)' }),
  def({ key: 'geoipDb', long: 'geoip-db', kind: 'value', parse: geoDbPath, arg: 'F', help: 'MaxMind-format City/Country database (default: embedded DB-IP country data; none = off)' }),
  def({ key: 'asnDb', long: 'asn-db', kind: 'value', parse: path, arg: 'F', help: 'MaxMind-format ASN database (source AS number and organisation)' }),
  def({ key: 'maxMessageBytes', long: 'max-message-bytes', kind: 'value', parse: integer(1_024, 65_535), int: true, arg: 'N', help: 'largest SIP message accepted on any transport' }),
  def({ key: 'tcpIdleTimeout', long: 'tcp-idle-timeout', kind: 'value', parse: integer(1, 86_400), int: true, arg: 'SECONDS', help: 'close idle SIP TCP/TLS connections after this' }),
  def({ key: 'tcpMaxConnectionsPerSource', long: 'tcp-max-connections-per-source', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'SIP TCP/TLS connections per source IP' }),
  def({ key: 'tcpMaxConnections', long: 'tcp-max-connections', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'SIP TCP/TLS connections in total' }),
  def({ key: 'tlsHandshakeTimeout', long: 'tls-handshake-timeout', kind: 'value', parse: integer(1, 300), int: true, arg: 'SECONDS', help: 'close SIP TLS connections whose handshake takes longer' }),
  def({ key: 'tcpMaxUnsentBytes', long: 'tcp-max-unsent-bytes', kind: 'value', parse: integer(4_096, 16_777_216), int: true, arg: 'N', help: 'close a SIP TCP/TLS connection when this many bytes wait for a peer that does not read' }),
  def({ key: 'replyRateLimit', long: 'reply-rate-limit', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'SIP replies/s per source IP' }),
  def({ key: 'storeBacklog', long: 'store-backlog', kind: 'value', parse: integer(1_000, 10_000_000), int: true, arg: 'N', help: 'events held for the store writer; beyond it rows are shed (still counted)' }),
  // Block policy (firewall enforcer, blocklist exports, call-check)
  def({ key: 'blockTtl', long: 'block-ttl', kind: 'value', parse: parseDuration, tomlScalar: true, arg: 'DUR', help: 'an address stays blocked this long after its last hit (seconds, or N s/m/h/d)', defaultText: '24h' }),
  def({ key: 'blockMinHits', long: 'block-min-hits', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'hits before an address is blocked' }),
  def({ key: 'blockVerifiedOnly', long: 'block-verified-only', kind: 'value', parse: parseOnOff, tomlScalar: true, arg: 'BOOL', help: 'count only hits from proven sources (true/false)', defaultText: 'true' }),
  def({ key: 'blockPeers', long: 'block-peers', kind: 'value', parse: parseOnOff, tomlScalar: true, arg: 'BOOL', help: "count peers' signed records (true/false)", defaultText: 'true' }),
  def({ key: 'blockMax', long: 'block-max', kind: 'value', parse: integer(1, 16_777_216), int: true, arg: 'N', help: 'most blocked addresses per family (oldest last hit dropped first)' }),
  def({ key: 'bgpNextHop4', long: 'bgp-next-hop4', kind: 'value', parse: ipOf(4), arg: 'IP', help: 'bgp-feed: next hop of IPv4 blackhole routes' }),
  def({ key: 'bgpNextHop6', long: 'bgp-next-hop6', kind: 'value', parse: ipOf(6), arg: 'IP', help: 'bgp-feed: next hop of IPv6 blackhole routes' }),
  def({ key: 'bgpCommunity', long: 'bgp-community', kind: 'list', parse: community, arg: 'A:B', help: 'bgp-feed: community added to BLACKHOLE 65535:666 (repeatable)' }),
  def({ key: 'bgpLargeCommunity', long: 'bgp-large-community', kind: 'list', parse: largeCommunity, arg: 'A:B:C', help: 'bgp-feed: large community (repeatable)' }),
  def({ key: 'bgpNoExport', long: 'bgp-no-export', kind: 'value', parse: parseOnOff, tomlScalar: true, arg: 'BOOL', help: 'bgp-feed: add NO_EXPORT (true/false)', defaultText: 'true' }),
  def({ key: 'bgpAggregateMin', long: 'bgp-aggregate-min', kind: 'value', parse: integer(0, 256), int: true, arg: 'N', help: 'bgp-feed: announce a /24 once N of its addresses are blocked (0 = off)' }),
  def({ key: 'bgpMaxRoutes', long: 'bgp-max-routes', kind: 'value', parse: integer(1, 10_000_000), int: true, arg: 'N', help: 'bgp-feed: most routes per family (oldest last hit withdrawn first)' }),
  def({ key: 'bgpAllowPrefix', long: 'bgp-allow-prefix', kind: 'list', parse: cidr, arg: 'CIDR', help: 'bgp-feed: special-purpose range that may be announced anyway, for labs (repeatable)' }),
  def({ key: 'bgpMetricsListen', long: 'bgp-metrics-listen', kind: 'value', parse: endpoint, arg: 'A:P', help: 'bgp-feed: serve its /metrics here' }),
  def({ key: 'bgpFeedSocket', long: 'bgp-feed-socket', kind: 'value', parse: path, arg: 'PATH', help: 'run the BGP feed in the node, served to `bgp-feed --socket PATH` relays on this unix socket' }),
  def({ key: 'checkNumberMinSources', long: 'check-number-min-sources', kind: 'value', parse: integer(1, 1_000_000), int: true, arg: 'N', help: 'call-check: distinct attackers that called a number before calls to it are blocked' }),
  // Firewall enforcer (docs/ENFORCE.md)
  def({ key: 'firewall', long: 'firewall', kind: 'value', parse: oneOf(FIREWALL_BACKENDS), arg: 'B', help: `put blocked addresses into the host firewall: ${FIREWALL_BACKENDS.join(', ')}` }),
  def({ key: 'firewallTable', long: 'firewall-table', kind: 'value', parse: firewallTable, arg: 'NAME', help: 'nftables table (inet NAME) or ipset name prefix sipwarden owns' }),
  def({ key: 'firewallPriority', long: 'firewall-priority', kind: 'value', parse: firewallPriority, arg: 'P', help: 'nftables input chain priority (e.g. "filter - 10", -10)' }),
  def({ key: 'firewallScope', long: 'firewall-scope', kind: 'value', parse: oneOf(FIREWALL_SCOPES), arg: 'S', help: 'drop from blocked addresses: sip (the SIP ports sipwarden listens on) or all packets' }),
  def({ key: 'firewallCleanup', long: 'firewall-cleanup', kind: 'bool', help: 'delete the firewall table/sets on stop (default: keep them; elements expire by themselves)' }),
];

/** Defaults; `dataDir`, `dbFile`, `jsonLogFile` are derived in load.ts. */
export const DEFAULTS: Omit<Config, 'sources' | 'dataDir' | 'dbFile' | 'jsonLogFile'> = {
  verbose: false,
  debug: false,
  logFormat: 'text',
  jsonLog: false,
  peerToPeer: false,
  bootstrap: [],
  oauth2ClientId: null,
  oauth2ClientSecret: null,
  oauth2TokenUrl: 'https://authz.sentrypeer.com/oauth/token',
  oauth2Audience: 'https://sentrypeer.com/api',
  api: false,
  webhookUrl: null,
  webhookSecret: null,
  responsive: false,
  sipDisable: false,
  syslog: false,
  syslogTarget: '/dev/log',
  syslogIdent: 'sipwarden',
  cert: null,
  key: null,
  tls: true,
  sipListen: [
    { ip: '0.0.0.0', port: 5060 },
    { ip: '::', port: 5060 },
  ],
  tlsListen: [
    { ip: '0.0.0.0', port: 5061 },
    { ip: '::', port: 5061 },
  ],
  apiListen: [{ ip: '127.0.0.1', port: 8082 }],
  apiRateLimit: 20,
  apiTokens: [],
  apiTokenFile: null,
  apiAllowAnonymous: false,
  responsiveProfile: 'freepbx',
  decoyExtensions: '100-199',
  decoyPassword: null,
  redirectUri: null,
  serverHeader: null,
  retentionDays: 0,
  allow: [],
  p2pShare: 'no-credentials',
  p2pVerifiedOnly: false,
  p2pListen: [
    { ip: '0.0.0.0', port: 4222 },
    { ip: '::', port: 4222 },
  ],
  p2pNetworkKey: null,
  p2pAllowPeers: [],
  p2pEngine: 'libp2p',
  opendhtPort: 4222,
  opendhtBootstrap: [],
  opendhtBootstrapPort: 4222,
  opendhtPeerDiscovery: true,
  opendhtRate: 1_000,
  trustOpendht: false,
  geoipDb: null,
  blockTtl: 86_400,
  blockMinHits: 1,
  blockVerifiedOnly: true,
  blockPeers: true,
  blockMax: 200_000,
  checkNumberMinSources: 3,
  bgpNextHop4: '192.0.2.1',
  bgpNextHop6: '100::1',
  bgpCommunity: [],
  bgpLargeCommunity: [],
  bgpNoExport: true,
  bgpAggregateMin: 0,
  bgpMaxRoutes: 100_000,
  bgpAllowPrefix: [],
  bgpMetricsListen: null,
  bgpFeedSocket: null,
  firewall: 'off',
  firewallTable: 'sipwarden',
  firewallPriority: 'filter - 10',
  firewallScope: 'sip',
  firewallCleanup: false,
  asnDb: null,
  ...DEFAULT_LIMITS,
};
