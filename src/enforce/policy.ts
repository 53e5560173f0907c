/**
 * The block policy: which addresses are never blocked (exclusions), and whether an address or a called number
 * qualifies for blocking, and until when, given the aggregate facts the store keeps for it.
 *
 * Everything here is pure (no I/O, no clock): the firewall enforcer, the blocklist exports, the APIBAN feed and
 * the call-check route share it so they always agree. Facts come from `ip_stats` / `number_check_stats`
 * (see `src/store/block-facts.ts`).
 */
import { createIpMatcher, normalizeIp, parseCidr, v4ToInt, type IpMatcher } from '../net/ip.js';
import type { Config } from '../config/types.js';

// ------------------------------------------------------------------ settings

/** The policy settings (`--block-*`, `--check-number-min-sources`). */
export interface BlockPolicy {
  /** Seconds an address stays blocked after its last counted hit (each new hit refreshes it). */
  ttlSeconds: number;
  /** Counted hits needed before an address qualifies. */
  minHits: number;
  /** Count only hits whose source was proven (TCP/TLS, or a UDP request echoing our nonce/To-tag). */
  verifiedOnly: boolean;
  /** Count hits from signed libp2p peer records as well as local captures. */
  peers: boolean;
  /**
   * Count values from SentryPeer's OpenDHT network too (`--trust-opendht`). They are never proven, so under
   * `verifiedOnly` they still count for nothing.
   */
  opendht?: boolean;
  /** Largest number of blocked addresses per family; past it the oldest last hits go first. */
  maxPerFamily: number;
  /** Distinct sources that must have called a number before the call-check blocks calls to it. */
  numberMinSources: number;
}

/** Defaults of the policy settings. */
export const DEFAULT_BLOCK_POLICY: Readonly<BlockPolicy> = Object.freeze({
  ttlSeconds: 86_400,
  minHits: 1,
  verifiedOnly: true,
  peers: true,
  maxPerFamily: 200_000,
  numberMinSources: 3,
});

/** The policy of a loaded configuration. */
export function blockPolicyFromConfig(config: Pick<Config, 'blockTtl' | 'blockMinHits' | 'blockVerifiedOnly' | 'blockPeers' | 'blockMax' | 'checkNumberMinSources'> & Partial<Pick<Config, 'trustOpendht'>>): BlockPolicy {
  return {
    ttlSeconds: config.blockTtl,
    minHits: config.blockMinHits,
    verifiedOnly: config.blockVerifiedOnly,
    peers: config.blockPeers,
    opendht: config.trustOpendht === true,
    maxPerFamily: config.blockMax,
    numberMinSources: config.checkNumberMinSources,
  };
}

// ------------------------------------------------------------------ decision

/** Hits of one origin class (local captures, or signed peer records) for one address. */
export interface HitCounts {
  hits: number;
  /** Hits whose source was proven. */
  verifiedHits: number;
  /** µs of the newest hit; 0 when none. */
  lastUs: number;
  /** µs of the newest proven hit; 0 when none. */
  lastVerifiedUs: number;
}

/** What the store knows about one address. */
export interface IpFacts {
  /** Local captures (and SentryPeer rows imported from an old database). */
  local: HitCounts;
  /** Records received from peers, signed by their PeerId. */
  peer: HitCounts;
  /** Unsigned values from SentryPeer's OpenDHT network (never proven); absent = none. */
  opendht?: HitCounts;
}

/** Why an address or number does or does not qualify. */
export type DecisionReason = 'qualifies' | 'no-hits' | 'below-min-hits' | 'unverified' | 'expired';

/** The policy's answer for one address or number. */
export interface BlockDecision {
  qualifies: boolean;
  reason: DecisionReason;
  /** Hits the policy counted. */
  countedHits: number;
  /** µs of the newest counted hit, or null when none was counted. */
  lastHitUs: number | null;
  /** µs at which the block ends (last counted hit + TTL), or null when nothing was counted. */
  expiresUs: number | null;
}

const EMPTY: HitCounts = { hits: 0, verifiedHits: 0, lastUs: 0, lastVerifiedUs: 0 };

/** Empty facts (an address never seen). */
export function emptyIpFacts(): IpFacts {
  return { local: { ...EMPTY }, peer: { ...EMPTY } };
}

/**
 * Does an address with these facts qualify for blocking at `nowUs`, and until when? Exclusions are not
 * considered here (see {@link Exclusions}); callers check them first.
 */
export function decideIp(facts: IpFacts, policy: BlockPolicy, nowUs: number): BlockDecision {
  const classes = policy.peers ? [facts.local, facts.peer] : [facts.local];
  if (policy.opendht && facts.opendht) classes.push(facts.opendht);
  let counted = 0;
  let anyHits = 0;
  let last = 0;
  for (const c of classes) {
    anyHits += c.hits;
    if (policy.verifiedOnly) {
      counted += c.verifiedHits;
      if (c.verifiedHits > 0) last = Math.max(last, c.lastVerifiedUs);
    } else {
      counted += c.hits;
      if (c.hits > 0) last = Math.max(last, c.lastUs);
    }
  }
  if (counted === 0) {
    const reason: DecisionReason = anyHits > 0 && policy.verifiedOnly ? 'unverified' : 'no-hits';
    return { qualifies: false, reason, countedHits: 0, lastHitUs: null, expiresUs: null };
  }
  const expiresUs = last + policy.ttlSeconds * 1_000_000;
  if (counted < policy.minHits) {
    const reason: DecisionReason = policy.verifiedOnly && anyHits >= policy.minHits ? 'unverified' : 'below-min-hits';
    return { qualifies: false, reason, countedHits: counted, lastHitUs: last, expiresUs };
  }
  if (expiresUs <= nowUs) return { qualifies: false, reason: 'expired', countedHits: counted, lastHitUs: last, expiresUs };
  return { qualifies: true, reason: 'qualifies', countedHits: counted, lastHitUs: last, expiresUs };
}

/** What the store knows about one called number (raw form or, when it has one, its E.164 form). */
export interface NumberFacts {
  hits: number;
  /** Distinct source addresses that called it. */
  sources: number;
  /** Distinct proven source addresses that called it. */
  verifiedSources: number;
  /** µs of the newest call; 0 when none. */
  lastUs: number;
}

/**
 * Does a called number qualify (enough distinct attackers called it within the TTL)? With `verifiedOnly` only
 * proven sources count, so forged UDP sources cannot get a victim's number blocked.
 */
export function decideNumber(facts: NumberFacts, policy: BlockPolicy, nowUs: number): BlockDecision {
  const counted = policy.verifiedOnly ? facts.verifiedSources : facts.sources;
  if (facts.hits === 0 || facts.sources === 0) return { qualifies: false, reason: 'no-hits', countedHits: 0, lastHitUs: null, expiresUs: null };
  const last = facts.lastUs;
  const expiresUs = last + policy.ttlSeconds * 1_000_000;
  if (counted < policy.numberMinSources) {
    const reason: DecisionReason = policy.verifiedOnly && facts.sources >= policy.numberMinSources ? 'unverified' : 'below-min-hits';
    return { qualifies: false, reason, countedHits: counted, lastHitUs: last, expiresUs };
  }
  if (expiresUs <= nowUs) return { qualifies: false, reason: 'expired', countedHits: counted, lastHitUs: last, expiresUs };
  return { qualifies: true, reason: 'qualifies', countedHits: counted, lastHitUs: last, expiresUs };
}

// ------------------------------------------------------------------ exclusions

/** Why an address is never blocked. Stable: used as a metric label and in API answers. */
export type ExclusionReason =
  | 'invalid'
  | 'loopback'
  | 'link-local'
  | 'unspecified'
  | 'own-address'
  | 'allow'
  | 'bootstrap'
  | 'peer'
  | 'webhook';

/** Every reason, for metric pre-registration and docs. */
export const EXCLUSION_REASONS: readonly ExclusionReason[] = ['invalid', 'loopback', 'link-local', 'unspecified', 'own-address', 'allow', 'bootstrap', 'peer', 'webhook'];

/** Sources of the exclusion list; the changing ones are replaced through the setters of {@link Exclusions}. */
export interface ExclusionInit {
  /** `--allow` CIDRs. */
  allow?: readonly string[];
  /** This host's addresses (any text form; non-IPs ignored). Called again after `ownRefreshMs`. */
  ownAddresses?: () => Iterable<string>;
  /** How long the own-address list is kept before `ownAddresses` is called again (default 60 s). */
  ownRefreshMs?: number;
  /** Clock in ms for the refresh (default Date.now); tests inject one. */
  nowMs?: () => number;
}

function toSet(addrs: Iterable<string>): Set<string> {
  const s = new Set<string>();
  for (const a of addrs) {
    const n = normalizeIp(a);
    if (n !== null) s.add(n);
  }
  return s;
}

/** The changing never-blocked lists besides loopback, link-local, own addresses and `--allow`. */
export interface ExcludedLists {
  bootstrap: string[];
  peers: string[];
  webhook: string[];
}

/**
 * The never-blocked list: loopback, link-local, unspecified, this host's own addresses, `--allow` ranges,
 * P2P bootstrap nodes and connected peers, webhook/OAuth2 hosts. {@link reason} answers in O(1) for an exact
 * address (plus one matcher probe per `--allow` prefix length).
 */
export class Exclusions {
  private readonly allow: IpMatcher;
  private readonly ownFn: (() => Iterable<string>) | null;
  private readonly ownRefreshMs: number;
  private readonly nowMs: () => number;
  private own = new Set<string>();
  private ownAt = -Infinity;
  private bootstrap = new Set<string>();
  private peers = new Set<string>();
  private webhook = new Set<string>();

  constructor(init: ExclusionInit = {}) {
    this.allow = createIpMatcher(init.allow ?? []);
    this.ownFn = init.ownAddresses ?? null;
    this.ownRefreshMs = init.ownRefreshMs ?? 60_000;
    this.nowMs = init.nowMs ?? Date.now;
  }

  /** Addresses of the configured bootstrap nodes (resolved by the caller). */
  setBootstrap(addrs: Iterable<string>): void {
    this.bootstrap = toSet(addrs);
  }

  /** Addresses of the peers connected now (replaces the previous set). */
  setPeers(addrs: Iterable<string>): void {
    this.peers = toSet(addrs);
  }

  /** Resolved addresses of the webhook and OAuth2 token hosts. */
  setWebhookHosts(addrs: Iterable<string>): void {
    this.webhook = toSet(addrs);
  }

  /** This host's addresses as last read. */
  ownAddresses(): ReadonlySet<string> {
    this.refreshOwn();
    return this.own;
  }

  private refreshOwn(): void {
    if (this.ownFn === null) return;
    const now = this.nowMs();
    if (now - this.ownAt < this.ownRefreshMs) return;
    this.ownAt = now;
    try {
      this.own = toSet(this.ownFn());
    } catch {
      /* keep the previous list */
    }
  }

  /** Why `ip` must never be blocked, or null when it may be. Any IP text form; normalised first. */
  reason(ipText: string): ExclusionReason | null {
    let ip = ipText;
    if (v4ToInt(ipText) < 0) {
      const norm = normalizeIp(ipText);
      if (norm === null) return 'invalid';
      ip = norm;
    }
    const fixed = fixedExclusion(ip);
    if (fixed !== null) return fixed;
    this.refreshOwn();
    if (this.own.has(ip)) return 'own-address';
    if (this.allow.matches(ip)) return 'allow';
    if (this.bootstrap.has(ip)) return 'bootstrap';
    if (this.peers.has(ip)) return 'peer';
    if (this.webhook.has(ip)) return 'webhook';
    return null;
  }
}

/**
 * The part of the never-blocked list that needs no configuration: loopback, link-local, unspecified (and
 * non-IPs). Cheap enough for the store's writer, which leaves these out of the per-number attacker counts.
 */
export function fixedExclusion(ipText: string): ExclusionReason | null {
  let n = v4ToInt(ipText);
  let ip = ipText;
  if (n < 0) {
    const norm = normalizeIp(ipText);
    if (norm === null) return 'invalid';
    ip = norm;
    n = v4ToInt(ip);
  }
  if (n >= 0) {
    if (n >>> 24 === 127) return 'loopback';
    if (n >>> 16 === 0xa9fe) return 'link-local';
    if (n === 0) return 'unspecified';
    return null;
  }
  const c = parseCidr(ip);
  if (!c) return 'invalid';
  const b = c.bytes;
  let zero = true;
  for (let i = 0; i < 15; i++) if (b[i] !== 0) zero = false;
  if (zero && b[15] === 1) return 'loopback';
  if (zero && b[15] === 0) return 'unspecified';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local';
  return null;
}

/** This host's interface addresses, from `os.networkInterfaces()` output. */
export function interfaceAddresses(ifaces: NodeJS.Dict<{ address: string }[]>): string[] {
  const out: string[] = [];
  for (const list of Object.values(ifaces)) for (const a of list ?? []) out.push(a.address);
  return out;
}

/** The host part of a `-b` value (multiaddr `/ip4|ip6|dns|dns4|dns6/HOST/...` or `host[:port]`). */
export function bootstrapHost(value: string): string | null {
  const s = value.trim();
  if (s.startsWith('/')) {
    const m = /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(s);
    return m ? m[1]! : null;
  }
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    return close > 1 ? s.slice(1, close) : null;
  }
  const colon = s.indexOf(':');
  if (colon >= 0 && s.indexOf(':', colon + 1) >= 0) return s; // a bare IPv6 address
  return colon >= 0 ? s.slice(0, colon) : s || null;
}

/** The host of an http(s) URL (brackets of an IPv6 literal removed), or null. */
export function urlHost(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const h = new URL(url).hostname;
    return h.startsWith('[') ? h.slice(1, -1) : h || null;
  } catch {
    return null;
  }
}

/**
 * Remembers which excluded addresses were already reported, so a record naming one is logged once (per
 * address, bounded memory) and counted every time.
 */
export class ExclusionReporter {
  private readonly seen = new Set<string>();
  constructor(
    private readonly onFirst: (ip: string, reason: ExclusionReason) => void,
    private readonly onEach: (reason: ExclusionReason) => void,
    private readonly maxRemembered = 10_000,
  ) {}

  /** Reports one record naming `ip`, excluded for `reason`. */
  note(ip: string, reason: ExclusionReason): void {
    this.onEach(reason);
    if (this.seen.has(ip)) return;
    if (this.seen.size >= this.maxRemembered) this.seen.clear();
    this.seen.add(ip);
    this.onFirst(ip, reason);
  }
}
