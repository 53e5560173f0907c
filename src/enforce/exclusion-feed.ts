/**
 * Keeps the changing parts of the never-blocked list current: the resolved addresses of the P2P bootstrap nodes
 * and of the webhook/OAuth2 hosts (resolved at start and every few minutes), and the addresses of the peers
 * connected now (polled). Consumers (the API's reader worker, the firewall enforcer) subscribe to the lists;
 * the feed's own {@link Exclusions} serves the main thread (counting records that name an excluded address).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/types.js';
import type { Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { PeerInfo } from '../p2p/types.js';
import { bootstrapHost, Exclusions, interfaceAddresses, urlHost } from './policy.js';

/** The changing exclusion lists, as sent to other threads. */
export interface ExcludedHosts {
  bootstrap: string[];
  peers: string[];
  webhook: string[];
}

/** Resolves a host name to its addresses (all families); an IP literal resolves to itself. */
export type HostResolver = (host: string) => Promise<string[]>;

const defaultResolver: HostResolver = async (host) => {
  if (isIP(host)) return [host];
  const r = await dnsLookup(host, { all: true, verbatim: true });
  return r.map((a) => a.address);
};

/** Addresses named in peers' multiaddrs (`/ip4/A/…`, `/ip6/A/…`). */
export function peerAddresses(peers: readonly PeerInfo[]): string[] {
  const out: string[] = [];
  for (const p of peers) {
    for (const a of p.addresses) {
      const h = bootstrapHost(a);
      if (h !== null && isIP(h)) out.push(h);
    }
  }
  return out;
}

export interface ExclusionFeedInit {
  config: Pick<Config, 'allow' | 'bootstrap' | 'webhookUrl' | 'oauth2TokenUrl' | 'oauth2ClientId'>;
  logger: Logger;
  resolve?: HostResolver;
  /** Peer poll interval (default 5 s) and host re-resolution interval (default 10 min). */
  peerPollMs?: number;
  resolveEveryMs?: number;
}

/** The feed (a Startable). */
export interface ExclusionFeed extends Startable {
  readonly exclusions: Exclusions;
  /** Current lists. */
  lists(): ExcludedHosts;
  /** Calls `cb` now and on every change; returns an unsubscribe function. */
  subscribe(cb: (lists: ExcludedHosts) => void): () => void;
  /** Where connected peers come from (set once P2P has started). */
  setPeerSource(fn: () => readonly PeerInfo[]): void;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Builds the feed; nothing is resolved before `start()`. */
export function createExclusionFeed(init: ExclusionFeedInit): ExclusionFeed {
  const resolve = init.resolve ?? defaultResolver;
  const log = init.logger;
  const exclusions = new Exclusions({ allow: init.config.allow, ownAddresses: () => interfaceAddresses(networkInterfaces()) });
  let current: ExcludedHosts = { bootstrap: [], peers: [], webhook: [] };
  const subs = new Set<(l: ExcludedHosts) => void>();
  let peerSource: (() => readonly PeerInfo[]) | null = null;
  let peerTimer: NodeJS.Timeout | null = null;
  let resolveTimer: NodeJS.Timeout | null = null;

  const publish = (next: ExcludedHosts): void => {
    if (sameList(next.bootstrap, current.bootstrap) && sameList(next.peers, current.peers) && sameList(next.webhook, current.webhook)) return;
    current = next;
    exclusions.setBootstrap(next.bootstrap);
    exclusions.setPeers(next.peers);
    exclusions.setWebhookHosts(next.webhook);
    for (const cb of subs) cb(current);
  };

  const resolveAll = async (hosts: string[]): Promise<string[]> => {
    const out = new Set<string>();
    await Promise.all(hosts.map(async (h) => {
      try {
        for (const a of await resolve(h)) out.add(a);
      } catch (err) {
        log.warn({ host: h, err: (err as Error).message }, 'cannot resolve a never-blocked host; it is not excluded until it resolves');
      }
    }));
    return [...out].sort();
  };

  const resolveHosts = async (): Promise<void> => {
    const boot = init.config.bootstrap.map(bootstrapHost).filter((h): h is string => h !== null);
    const hooks = [urlHost(init.config.webhookUrl ?? null), init.config.oauth2ClientId ? urlHost(init.config.oauth2TokenUrl) : null]
      .filter((h): h is string => h !== null);
    const [bootstrap, webhook] = await Promise.all([resolveAll(boot), resolveAll(hooks)]);
    publish({ ...current, bootstrap, webhook });
  };

  const pollPeers = (): void => {
    if (!peerSource) return;
    try {
      publish({ ...current, peers: [...new Set(peerAddresses(peerSource()))].sort() });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot read connected peers');
    }
  };

  return {
    exclusions,
    lists: () => current,
    subscribe(cb) {
      subs.add(cb);
      cb(current);
      return () => subs.delete(cb);
    },
    setPeerSource(fn) {
      peerSource = fn;
      pollPeers();
    },
    async start() {
      // A slow resolver must not hold up the start: the lists follow when it answers.
      await Promise.race([resolveHosts(), new Promise((r) => setTimeout(r, 2_000).unref())]);
      pollPeers();
      peerTimer ??= setInterval(pollPeers, init.peerPollMs ?? 5_000).unref();
      resolveTimer ??= setInterval(() => void resolveHosts(), init.resolveEveryMs ?? 600_000).unref();
    },
    async stop() {
      if (peerTimer) clearInterval(peerTimer);
      if (resolveTimer) clearInterval(resolveTimer);
      peerTimer = resolveTimer = null;
      subs.clear();
    },
  };
}
