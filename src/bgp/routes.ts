/**
 * The BGP blackhole feed's routing decisions, pure: which blocked addresses become which routes (RFC 7999
 * BLACKHOLE community, /32 and /128, optional /24 aggregation, a cap per family) and the ExaBGP API commands that
 * announce and withdraw them. No I/O: the feed process drives it.
 */
import { createIpMatcher, ipFamily } from '../net/ip.js';
import type { Config } from '../config/types.js';

/** The BLACKHOLE community of RFC 7999, always sent. */
export const BLACKHOLE = '65535:666';

/** RFC 6890 special-purpose address blocks (and multicast), which no blackhole feed should ever announce. */
export const SPECIAL_PURPOSE: readonly string[] = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.31.196.0/24', '192.52.193.0/24', '192.88.99.0/24', '192.168.0.0/16', '192.175.48.0/24',
  '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32',
  // (IPv4-mapped ::ffff:0:0/96 is absent: such addresses are stored as IPv4 and judged by the IPv4 rows.)
  '::/128', '::1/128', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001:db8::/32',
  '2002::/16', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10', 'ff00::/8',
];
/** Never announced even when a lab allows special-purpose prefixes. */
const NEVER: readonly string[] = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4', '::/128', '::1/128', 'fe80::/10', 'ff00::/8'];

/** Feed settings (the `--bgp-*` settings). */
export interface RouteSettings {
  nextHop4: string;
  nextHop6: string;
  /** Standard communities `ASN:VALUE`; the first default is BLACKHOLE 65535:666 (RFC 7999). */
  communities: readonly string[];
  /** Large communities `A:B:C` (RFC 8092). */
  largeCommunities: readonly string[];
  /** Add NO_EXPORT (65535:65281) so the routes stay in the receiving AS. */
  noExport: boolean;
  /** Announce a /24 instead of its /32s once this many of its addresses are blocked; 0 = never. */
  aggregateMin: number;
  /** Most routes per family; past it the routes of the oldest last hit are withdrawn first. */
  maxRoutes: number;
  /** Special-purpose ranges that may be announced anyway (labs, tests); loopback, link-local, multicast never. */
  allowPrefixes: readonly string[];
}

/** The feed settings of a loaded configuration (BLACKHOLE first, never twice). */
export function routeSettingsFromConfig(config: Pick<Config, 'bgpNextHop4' | 'bgpNextHop6' | 'bgpCommunity' | 'bgpLargeCommunity' | 'bgpNoExport' | 'bgpAggregateMin' | 'bgpMaxRoutes' | 'bgpAllowPrefix'>): RouteSettings {
  return {
    nextHop4: config.bgpNextHop4,
    nextHop6: config.bgpNextHop6,
    communities: [BLACKHOLE, ...config.bgpCommunity.filter((c) => c !== BLACKHOLE)],
    largeCommunities: config.bgpLargeCommunity,
    noExport: config.bgpNoExport,
    aggregateMin: config.bgpAggregateMin,
    maxRoutes: config.bgpMaxRoutes,
    allowPrefixes: config.bgpAllowPrefix,
  };
}

/** One blocked address as the block set reports it. */
export interface BlockedAddress {
  ip: string;
  lastHitMs: number;
}

/** Why an address gets no route: the `reason` label of `sipwarden_bgp_refusals_total`. */
export type RefusalReason = 'never' | 'special_purpose' | 'max_routes';

/** A route: prefix and the time of the newest hit it covers. */
export interface Route {
  prefix: string;
  family: 4 | 6;
  lastHitMs: number;
}

/** Prefixes per ExaBGP command: one command stays a few KiB and ExaBGP acknowledges it promptly. */
export const NLRI_PER_COMMAND = 48;

/** The cap's order: an older last hit goes first; equal last hits are ordered by prefix so the choice is stable. */
export function olderRoute(a: Route, b: Route): boolean {
  return a.lastHitMs < b.lastHitMs || (a.lastHitMs === b.lastHitMs && a.prefix > b.prefix);
}

/** Compiled settings: matchers and the attribute text every announce carries. */
export class RoutePolicy {
  private readonly never = createIpMatcher(NEVER);
  private readonly special = createIpMatcher(SPECIAL_PURPOSE);
  private readonly allowed: ReturnType<typeof createIpMatcher>;
  private readonly attrs4: string;
  private readonly attrs6: string;
  constructor(readonly settings: RouteSettings) {
    this.allowed = createIpMatcher(settings.allowPrefixes);
    const comms = [...settings.communities, ...(settings.noExport ? ['no-export'] : [])];
    let attrs = comms.length ? ` community [${comms.join(' ')}]` : '';
    if (settings.largeCommunities.length) attrs += ` large-community [${settings.largeCommunities.join(' ')}]`;
    this.attrs4 = ` next-hop ${settings.nextHop4}${attrs}`;
    this.attrs6 = ` next-hop ${settings.nextHop6}${attrs}`;
  }

  /** Why an address must not be announced, or null. */
  refusal(ip: string): Exclude<RefusalReason, 'max_routes'> | null {
    if (this.never.matches(ip)) return 'never';
    if (this.special.matches(ip) && !this.allowed.matches(ip)) return 'special_purpose';
    return null;
  }

  /**
   * The routes wanted for the blocked addresses, computed over the whole set (the feed keeps them incrementally in
   * a RouteTable; this is the plain statement of the same policy that the table is tested against): refused ones dropped (reported through `refused`), /24
   * aggregation applied, and at most `maxRoutes` per family, newest last hit kept.
   */
  routes(blocked: Iterable<BlockedAddress>, refused?: (ip: string, reason: RefusalReason) => void): Map<string, Route> {
    const per: Record<4 | 6, Route[]> = { 4: [], 6: [] };
    const by24 = new Map<string, BlockedAddress[]>();
    for (const b of blocked) {
      const r = this.refusal(b.ip);
      if (r !== null) {
        refused?.(b.ip, r);
        continue;
      }
      const fam = ipFamily(b.ip);
      if (fam === 6) per[6].push({ prefix: `${b.ip}/128`, family: 6, lastHitMs: b.lastHitMs });
      else if (fam === 4) {
        if (this.settings.aggregateMin > 0) {
          const net = b.ip.slice(0, b.ip.lastIndexOf('.'));
          const list = by24.get(net);
          if (list) list.push(b);
          else by24.set(net, [b]);
        } else per[4].push({ prefix: `${b.ip}/32`, family: 4, lastHitMs: b.lastHitMs });
      }
    }
    for (const [net, list] of by24) {
      if (list.length >= this.settings.aggregateMin) {
        per[4].push({ prefix: `${net}.0/24`, family: 4, lastHitMs: Math.max(...list.map((b) => b.lastHitMs)) });
      } else for (const b of list) per[4].push({ prefix: `${b.ip}/32`, family: 4, lastHitMs: b.lastHitMs });
    }
    const out = new Map<string, Route>();
    for (const fam of [4, 6] as const) {
      let list = per[fam];
      if (list.length > this.settings.maxRoutes) {
        list = [...list].sort((a, b) => (olderRoute(a, b) ? 1 : olderRoute(b, a) ? -1 : 0));
        for (const r of list.slice(this.settings.maxRoutes)) refused?.(r.prefix.slice(0, r.prefix.indexOf('/')), 'max_routes');
        list = list.slice(0, this.settings.maxRoutes);
      }
      for (const r of list) out.set(r.prefix, r);
    }
    return out;
  }

  /**
   * ExaBGP commands announcing `routes`, batched: `announce attributes <attributes> nlri P1 P2 …`, at most
   * {@link NLRI_PER_COMMAND} prefixes of one family per command.
   */
  announce(routes: Iterable<Route>): string[] {
    return this.batch(routes, (f) => `announce attributes${f === 4 ? this.attrs4 : this.attrs6}`);
  }

  /** ExaBGP commands withdrawing `routes`, batched like {@link announce}. */
  withdraw(routes: Iterable<Route>): string[] {
    return this.batch(routes, (f) => `withdraw attributes next-hop ${f === 4 ? this.settings.nextHop4 : this.settings.nextHop6}`);
  }

  private batch(routes: Iterable<Route>, head: (family: 4 | 6) => string): string[] {
    const out: string[] = [];
    const open: Record<4 | 6, string[]> = { 4: [], 6: [] };
    const close = (f: 4 | 6): void => {
      if (open[f].length) out.push(`${head(f)} nlri ${open[f].join(' ')}`);
      open[f] = [];
    };
    for (const r of routes) {
      open[r.family].push(r.prefix);
      if (open[r.family].length >= NLRI_PER_COMMAND) close(r.family);
    }
    close(4);
    close(6);
    return out;
  }
}
