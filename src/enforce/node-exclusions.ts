/**
 * Feeds the policy's never-blocked list with what only a running node knows: this host's interface addresses,
 * the resolved addresses of the bootstrap nodes and of the webhook/OAuth2 hosts, and the peers connected now.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/types.js';
import type { Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { PeerInfo } from '../p2p/types.js';
import { Exclusions, bootstrapHost, interfaceAddresses, urlHost } from './policy.js';

/** Options of {@link createNodeExclusions}. */
export interface NodeExclusionsInit {
  config: Pick<Config, 'allow' | 'bootstrap' | 'webhookUrl' | 'oauth2TokenUrl' | 'oauth2ClientId'>;
  /** Connected peers (P2P on), read every `peerRefreshMs`. */
  peers?: () => PeerInfo[];
  logger: Logger;
  /** Default 5,000 ms. */
  peerRefreshMs?: number;
  /** Host names are resolved again this often. Default 10 minutes. */
  resolveEveryMs?: number;
}

/** The node's exclusion list plus the timers that keep it current. */
export interface NodeExclusions extends Startable {
  readonly exclusions: Exclusions;
  /** Re-reads the connected peers now. */
  refreshPeers(): void;
}

async function resolveAll(hosts: readonly string[], log: Logger): Promise<string[]> {
  const out: string[] = [];
  for (const h of hosts) {
    if (isIP(h)) { out.push(h); continue; }
    try {
      for (const a of await lookup(h, { all: true })) out.push(a.address);
    } catch (err) {
      log.debug({ host: h, err: (err as Error).message }, 'cannot resolve a never-blocked host');
    }
  }
  return out;
}

/** Builds the node's exclusions. */
export function createNodeExclusions(init: NodeExclusionsInit): NodeExclusions {
  const { config } = init;
  const exclusions = new Exclusions({ allow: config.allow, ownAddresses: () => interfaceAddresses(networkInterfaces()) });
  const bootstrapHosts = config.bootstrap.map(bootstrapHost).filter((h): h is string => h !== null);
  const webHosts = [urlHost(config.webhookUrl), config.oauth2ClientId ? urlHost(config.oauth2TokenUrl) : null].filter((h): h is string => h !== null);
  let peerTimer: NodeJS.Timeout | undefined;
  let resolveTimer: NodeJS.Timeout | undefined;

  const refreshPeers = (): void => {
    if (!init.peers) return;
    const addrs: string[] = [];
    for (const p of init.peers()) {
      for (const a of p.addresses) {
        const h = bootstrapHost(a);
        if (h !== null && isIP(h)) addrs.push(h);
      }
    }
    exclusions.setPeers(addrs);
  };
  const resolve = async (): Promise<void> => {
    exclusions.setBootstrap(await resolveAll(bootstrapHosts, init.logger));
    exclusions.setWebhookHosts(await resolveAll(webHosts, init.logger));
  };

  return {
    exclusions,
    refreshPeers,
    async start() {
      await resolve();
      refreshPeers();
      if (init.peers) {
        peerTimer = setInterval(refreshPeers, init.peerRefreshMs ?? 5000);
        peerTimer.unref();
      }
      if (bootstrapHosts.length + webHosts.length > 0) {
        resolveTimer = setInterval(() => void resolve(), init.resolveEveryMs ?? 600_000);
        resolveTimer.unref();
      }
    },
    async stop() {
      if (peerTimer) clearInterval(peerTimer);
      if (resolveTimer) clearInterval(resolveTimer);
      peerTimer = resolveTimer = undefined;
    },
  };
}
