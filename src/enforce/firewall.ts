/** Builds the firewall backend and the metric adapters from a loaded configuration (used by node.ts and the CLI). */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Metrics } from '../metrics.js';
import type { FirewallBackend } from './backend.js';
import type { BlockSetCounters } from './blockset.js';
import type { EnforcerCounters } from './enforcer.js';
import type { Exec } from './exec.js';
import { createIpsetBackend } from './ipset.js';
import { createNftBackend } from './nft.js';

/** The backend `config.firewall` names (not `off`). `ports` are the SIP ports sipwarden listens on. */
export function firewallBackend(
  config: Pick<Config, 'firewall' | 'firewallTable' | 'firewallPriority' | 'firewallScope' | 'blockTtl' | 'blockMax'>,
  ports: readonly number[],
  exec?: Exec,
): FirewallBackend {
  if (config.firewall === 'ipset') {
    return createIpsetBackend({ name: config.firewallTable, ttlSeconds: config.blockTtl, maxElements: config.blockMax, exec });
  }
  return createNftBackend({ table: config.firewallTable, priority: config.firewallPriority, scope: config.firewallScope, ports, exec });
}

/** Where the running enforcer leaves its last update time for `sipwarden firewall status`. */
export function firewallStateFile(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, 'firewall-state.json');
}

/** Block-set counters on the node's registry. */
export function blockSetCounters(metrics: Metrics): BlockSetCounters {
  return {
    evicted: (family, n) => metrics.blockEvicted.inc({ family: `ipv${family}` }, n),
    // Records naming a never-blocked address are logged once and counted where they are recorded (node.ts).
    excluded: () => undefined,
    elements: (family, n) => metrics.blockSetElements.set({ family: `ipv${family}` }, n),
  };
}

/** Enforcer counters on the node's registry. */
export function enforcerCounters(metrics: Metrics): EnforcerCounters {
  return {
    updated: () => metrics.firewallUpdates.inc(),
    failed: () => metrics.firewallFailures.inc(),
    latency: (s) => metrics.firewallBlockLatency.observe(s),
    elements: (family, n) => metrics.firewallElements.set({ family: `ipv${family}` }, n),
  };
}
