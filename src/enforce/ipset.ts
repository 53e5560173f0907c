/**
 * ipset backend: two `hash:ip` sets with timeouts (`<name>-blocklist4`, `<name>-blocklist6`), fed by one
 * `ipset -exist restore` per batch. The iptables/ip6tables rule that drops from them is the operator's
 * (docs/ENFORCE.md); sipwarden never touches iptables.
 */
import { ERROR_CODES, SipwardenError } from '../errors.js';
import type { BlockChange, Family } from './blockset.js';
import {
  FirewallUpdateError, NOT_PERMITTED, coalesce, firstLine, timeoutSeconds, unavailable,
  type FirewallBackend, type FirewallStatus,
} from './backend.js';
import { execTool, type Exec } from './exec.js';

/** Options of {@link createIpsetBackend}. */
export interface IpsetInit {
  /** Prefix of the set names. */
  name: string;
  /** Default element timeout (the block TTL), seconds. */
  ttlSeconds: number;
  /** Capacity of each set (at least the block cap). */
  maxElements: number;
  exec?: Exec;
  program?: string;
}

/** Set names for a prefix. */
export function ipsetNames(name: string): Record<Family, string> {
  return { 4: `${name}-blocklist4`, 6: `${name}-blocklist6` };
}

/** Builds the ipset backend. */
export function createIpsetBackend(init: IpsetInit): FirewallBackend {
  const exec = init.exec ?? execTool;
  const ipset = init.program ?? 'ipset';
  const sets = ipsetNames(init.name);
  const tmp: Record<Family, string> = { 4: `${init.name}-tmp4`, 6: `${init.name}-tmp6` };
  const fam: Record<Family, string> = { 4: 'inet', 6: 'inet6' };
  const maxelem = Math.max(65_536, init.maxElements);
  const create = (name: string, f: Family): string => `create ${name} hash:ip family ${fam[f]} timeout ${init.ttlSeconds} maxelem ${maxelem}`;

  const restore = async (script: string): Promise<void> => {
    const r = await exec(ipset, ['-exist', 'restore'], script);
    if (r.missing) throw new FirewallUpdateError(`${ipset} not found`);
    if (r.code !== 0) throw new FirewallUpdateError(`ipset restore failed (exit ${r.code}): ${firstLine(r.stderr)}`);
  };

  /** `ipset list -t NAME`: the header, or null when the set does not exist. */
  const header = async (name: string): Promise<string | null> => {
    const r = await exec(ipset, ['list', '-t', name]);
    if (r.missing) throw unavailable('--firewall ipset: the ipset program was not found (install the ipset package)');
    if (r.code === 0) return r.stdout;
    if (NOT_PERMITTED.test(r.stderr)) throw unavailable(`--firewall ipset: not permitted to change ipsets (needs root or CAP_NET_ADMIN): ${firstLine(r.stderr)}`);
    if (/does not exist/i.test(r.stderr)) return null;
    throw unavailable(`--firewall ipset: ipset list failed: ${firstLine(r.stderr)}`);
  };

  const ours = (h: string, f: Family): boolean => /Type:\s*hash:ip\b/.test(h) && (f === 4 ? /family inet\b/ : /family inet6\b/).test(h) && /\btimeout\b/.test(h);

  const backend: FirewallBackend = {
    kind: 'ipset',

    async setup() {
      for (const f of [4, 6] as const) {
        const h = await header(sets[f]);
        if (h !== null && !ours(h, f)) {
          throw new SipwardenError(
            ERROR_CODES.FIREWALL_FOREIGN,
            `--firewall-table ${init.name}: ipset ${sets[f]} exists and is not a hash:ip ${fam[f]} set with timeouts; choose another name or destroy it`,
            2,
          );
        }
      }
      const r = await exec(ipset, ['-exist', 'restore'], `${create(sets[4], 4)}\n${create(sets[6], 6)}\n`);
      if (r.code === 0) return;
      if (NOT_PERMITTED.test(r.stderr)) throw unavailable(`--firewall ipset: not permitted to change ipsets (needs root or CAP_NET_ADMIN): ${firstLine(r.stderr)}`);
      if (/not supported|Unknown|timeout/i.test(r.stderr)) throw unavailable(`--firewall ipset: the kernel does not support hash:ip sets with timeouts: ${firstLine(r.stderr)}`);
      throw unavailable(`--firewall ipset: cannot create ${sets[4]}/${sets[6]}: ${firstLine(r.stderr)}`);
    },

    async replaceAll(entries, nowMs) {
      // Fill a fresh set and swap it in, so the live set is never empty in between.
      const lines: string[] = [];
      for (const f of [4, 6] as const) lines.push(create(tmp[f], f), `flush ${tmp[f]}`);
      for (const e of entries) lines.push(`add ${tmp[e.family]} ${e.ip} timeout ${timeoutSeconds(e.expiresAtMs, nowMs)}`);
      for (const f of [4, 6] as const) lines.push(`swap ${tmp[f]} ${sets[f]}`, `destroy ${tmp[f]}`);
      await restore(lines.join('\n') + '\n');
    },

    async reconcile(entries, nowMs) {
      await backend.setup();
      await backend.replaceAll(entries, nowMs);
    },

    async apply(changes: readonly BlockChange[], nowMs) {
      const lines: string[] = [];
      for (const c of coalesce(changes)) {
        if (c.op === 'remove') {
          if (c.reason !== 'expired') lines.push(`del ${sets[c.family]} ${c.ip}`);
        } else {
          // With -exist, add of a present element updates its timeout.
          lines.push(`add ${sets[c.family]} ${c.ip} timeout ${timeoutSeconds(c.expiresAtMs, nowMs)}`);
        }
      }
      if (lines.length > 0) await restore(lines.join('\n') + '\n');
    },

    async status(): Promise<FirewallStatus> {
      const st: FirewallStatus = { backend: 'ipset', table: init.name, sets: { ...sets }, elements: { 4: null, 6: null }, droppedPackets: null };
      for (const f of [4, 6] as const) {
        const h = await header(sets[f]);
        const m = h === null ? null : /Number of entries:\s*([0-9]+)/.exec(h);
        st.elements[f] = m ? Number(m[1]) : null;
      }
      return st;
    },

    async flush() {
      const lines: string[] = [];
      for (const f of [4, 6] as const) if ((await header(sets[f])) !== null) lines.push(`flush ${sets[f]}`);
      if (lines.length > 0) await restore(lines.join('\n') + '\n');
    },

    async teardown() {
      // A set still referenced by the operator's iptables rule cannot be destroyed; leave it then.
      for (const f of [4, 6] as const) {
        if ((await header(sets[f])) === null) continue;
        const r = await exec(ipset, ['destroy', sets[f]]);
        if (r.code !== 0) throw new FirewallUpdateError(`ipset destroy ${sets[f]} failed: ${firstLine(r.stderr)}`);
      }
    },
  };
  return backend;
}
