/**
 * nftables backend: sipwarden owns one `inet` table with two timeout sets and one input chain that drops from
 * them. Every update is one `nft -f -` transaction (atomic), never one process per address.
 */
import { ERROR_CODES, SipwardenError } from '../errors.js';
import type { BlockChange, BlockEntry, Family } from './blockset.js';
import {
  FirewallUpdateError, NOT_PERMITTED, coalesce, firstLine, timeoutSeconds, unavailable,
  type FirewallBackend, type FirewallStatus,
} from './backend.js';
import { execTool, type Exec } from './exec.js';

/** The comment that marks a table as sipwarden's; a table of that name without it belongs to someone else. */
export const NFT_MARKER = 'managed by sipwarden; elements expire by themselves';

/**
 * A named counter in sipwarden's table that proves ownership inside an `nft -f` transaction: the start-up script
 * begins by deleting and re-adding it, which fails (and so applies nothing) when the table is missing or is not
 * ours. Listing the table to read its comment would cost seconds with 500,000 elements, because nft 1.0 fetches
 * every element for any `list` command; the comment stays the documented marker and is checked on the slow path.
 */
export const NFT_OWNER_OBJECT = 'sipwarden_owner';

/** Elements per `add element` line (keeps lines reasonable for nft's parser). */
const CHUNK = 4096;

/** Options of {@link createNftBackend}. */
export interface NftInit {
  /** Table name (family is always `inet`: one table serves IPv4 and IPv6). */
  table: string;
  /** Chain priority, nft syntax (`filter - 10`, `-10`). */
  priority: string;
  /** `sip`: only packets to `ports` (TCP and UDP); `all`: every packet from a blocked address. */
  scope: 'sip' | 'all';
  /** Ports sipwarden listens on (for scope `sip`). */
  ports: readonly number[];
  exec?: Exec;
  /** The nft program. Default `nft` (found on PATH). */
  program?: string;
}

export const NFT_SETS: Record<Family, string> = { 4: 'blocklist4', 6: 'blocklist6' };

/** Builds the nftables backend. */
export function createNftBackend(init: NftInit): FirewallBackend {
  const exec = init.exec ?? execTool;
  const nft = init.program ?? 'nft';
  const t = `inet ${init.table}`;

  const run = async (script: string): Promise<void> => {
    const r = await exec(nft, ['-f', '-'], script);
    if (r.missing) throw new FirewallUpdateError(`${nft} not found`);
    if (r.code !== 0) throw new FirewallUpdateError(`nft -f failed (exit ${r.code}): ${firstLine(r.stderr)}`);
  };

  const elementLines = (verb: 'add' | 'delete', family: Family, items: readonly string[]): string[] => {
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += CHUNK) {
      lines.push(`${verb} element ${t} ${NFT_SETS[family]} { ${items.slice(i, i + CHUNK).join(', ')} }`);
    }
    return lines;
  };

  /**
   * `add` leaves an existing element's timeout alone and `delete` fails the whole transaction on a missing
   * element, so an update is add-bare (make sure it exists), delete, add-with-timeout, all in one transaction.
   */
  const upsertLines = (family: Family, items: readonly { ip: string; timeout: number }[]): string[] => {
    const ips = items.map((i) => i.ip);
    return [
      ...elementLines('add', family, ips),
      ...elementLines('delete', family, ips),
      ...elementLines('add', family, items.map((i) => `${i.ip} timeout ${i.timeout}s`)),
    ];
  };

  const rules = (): string[] => {
    const match = init.scope === 'all' ? '' : ` meta l4proto { tcp, udp } th dport { ${[...new Set(init.ports)].sort((a, b) => a - b).join(', ')} }`;
    return [
      `add rule ${t} input ip saddr @${NFT_SETS[4]}${match} counter drop`,
      `add rule ${t} input ip6 saddr @${NFT_SETS[6]}${match} counter drop`,
    ];
  };

  /** `nft list table` (terse: without set elements, which may be 400,000): null when absent; throws the exit-2 errors. */
  const listTable = async (terse = true): Promise<string | null> => {
    const r = await exec(nft, [...(terse ? ['-t'] : []), 'list', 'table', 'inet', init.table]);
    if (r.missing) throw unavailable(`--firewall nftables: the nft program was not found (install the nftables package)`);
    if (r.code === 0) return r.stdout;
    if (NOT_PERMITTED.test(r.stderr)) throw unavailable(`--firewall nftables: not permitted to change nftables (needs root or CAP_NET_ADMIN): ${firstLine(r.stderr)}`);
    if (/No such file or directory/i.test(r.stderr)) return null;
    throw unavailable(`--firewall nftables: nft list table failed: ${firstLine(r.stderr)}`);
  };

  const owned = (listing: string): boolean => listing.includes(`comment "${NFT_MARKER}"`);

  /**
   * Table, owner object, sets and chain. The chain is rebuilt each start so a changed priority, scope or port
   * list applies; the sets keep their elements (the reconcile makes them exact).
   */
  const setupLines = (): string[] => [
    `add table ${t} { comment "${NFT_MARKER}"; }`,
    `add counter ${t} ${NFT_OWNER_OBJECT} { comment "${NFT_MARKER}"; }`,
    `add set ${t} ${NFT_SETS[4]} { type ipv4_addr; flags timeout; }`,
    `add set ${t} ${NFT_SETS[6]} { type ipv6_addr; flags timeout; }`,
    `add chain ${t} input`,
    `flush chain ${t} input`,
    `delete chain ${t} input`,
    `add chain ${t} input { type filter hook input priority ${init.priority}; policy accept; }`,
    ...rules(),
  ];

  /** Flush both sets, then add `entries` with their timeouts (one `add element` line per CHUNK of a family). */
  const replaceLines = (entries: Iterable<Readonly<BlockEntry>>, nowMs: number): string[] => {
    const lines = [`flush set ${t} ${NFT_SETS[4]}`, `flush set ${t} ${NFT_SETS[6]}`];
    // Built chunk by chunk: no array of every element's text, no slicing (500,000 elements at start-up).
    const chunk: Record<Family, string[]> = { 4: [], 6: [] };
    const close = (f: Family): void => {
      lines.push(`add element ${t} ${NFT_SETS[f]} { ${chunk[f].join(', ')} }`);
      chunk[f].length = 0;
    };
    for (const e of entries) {
      const c = chunk[e.family];
      c.push(`${e.ip} timeout ${timeoutSeconds(e.expiresAtMs, nowMs)}s`);
      if (c.length === CHUNK) close(e.family);
    }
    for (const f of [4, 6] as const) if (chunk[f].length > 0) close(f);
    return lines;
  };

  const backend: FirewallBackend = {
    kind: 'nftables',

    async setup() {
      if (init.scope === 'sip' && init.ports.length === 0) {
        throw unavailable('--firewall-scope sip: sipwarden listens on no SIP port here; use --firewall-scope all');
      }
      const listing = await listTable();
      if (listing !== null && !owned(listing)) {
        throw new SipwardenError(
          ERROR_CODES.FIREWALL_FOREIGN,
          `--firewall-table ${init.table}: table inet ${init.table} exists and is not sipwarden's (no marker comment); choose another name or delete it`,
          2,
        );
      }
      const r = await exec(nft, ['-f', '-'], setupLines().join('\n') + '\n');
      if (r.code === 0) return;
      if (NOT_PERMITTED.test(r.stderr)) throw unavailable(`--firewall nftables: not permitted to change nftables (needs root or CAP_NET_ADMIN): ${firstLine(r.stderr)}`);
      if (/Operation not supported|not supported/i.test(r.stderr)) {
        throw unavailable(`--firewall nftables: the kernel does not support nftables sets with timeouts: ${firstLine(r.stderr)}`);
      }
      throw unavailable(`--firewall nftables: cannot create table inet ${init.table}: ${firstLine(r.stderr)}`);
    },

    async replaceAll(entries, nowMs) {
      await run(replaceLines(entries, nowMs).join('\n') + '\n');
    },

    async reconcile(entries, nowMs) {
      // Fast path, one transaction: prove the table is ours (the owner object exists), set up, replace the
      // elements. Any failure applies nothing; the slow path then finds out why (missing table, a foreign one, an
      // older sipwarden's table without the owner object, no permission) with the exit-2 checks of setup().
      // `entries` may be a one-pass view of the block set: it is read once, here.
      const replace = replaceLines(entries, nowMs).join('\n') + '\n';
      const head = [`delete counter ${t} ${NFT_OWNER_OBJECT}`, ...setupLines()].join('\n') + '\n';
      const r = await exec(nft, ['-f', '-'], head + replace);
      if (r.missing) throw unavailable(`--firewall nftables: the nft program was not found (install the nftables package)`);
      if (r.code === 0) return;
      await backend.setup();
      await run(replace);
    },

    async apply(changes: readonly BlockChange[], nowMs) {
      const up: Record<Family, { ip: string; timeout: number }[]> = { 4: [], 6: [] };
      const del: Record<Family, string[]> = { 4: [], 6: [] };
      for (const c of coalesce(changes)) {
        if (c.op === 'remove') {
          // An expired element already left the kernel set by its own timeout.
          if (c.reason !== 'expired') del[c.family].push(c.ip);
        } else {
          up[c.family].push({ ip: c.ip, timeout: timeoutSeconds(c.expiresAtMs, nowMs) });
        }
      }
      const lines: string[] = [];
      for (const f of [4, 6] as const) {
        if (del[f].length > 0) lines.push(...elementLines('add', f, del[f]), ...elementLines('delete', f, del[f]));
        if (up[f].length > 0) lines.push(...upsertLines(f, up[f]));
      }
      if (lines.length > 0) await run(lines.join('\n') + '\n');
    },

    async status(): Promise<FirewallStatus> {
      const listing = await listTable(false);
      const st: FirewallStatus = { backend: 'nftables', table: `inet ${init.table}`, sets: { ...NFT_SETS }, elements: { 4: null, 6: null }, droppedPackets: null };
      if (listing === null) return st;
      if (!owned(listing)) {
        throw new SipwardenError(ERROR_CODES.FIREWALL_FOREIGN, `table inet ${init.table} exists and is not sipwarden's (no marker comment)`, 2);
      }
      for (const f of [4, 6] as const) st.elements[f] = countElements(listing, NFT_SETS[f]);
      let dropped: number | null = null;
      for (const m of listing.matchAll(/counter packets ([0-9]+) bytes [0-9]+ drop/g)) dropped = (dropped ?? 0) + Number(m[1]);
      st.droppedPackets = dropped;
      return st;
    },

    async flush() {
      if ((await listTable()) === null) return;
      await run(`flush set ${t} ${NFT_SETS[4]}\nflush set ${t} ${NFT_SETS[6]}\n`);
    },

    async teardown() {
      const listing = await listTable();
      if (listing === null || !owned(listing)) return;
      await run(`delete table ${t}\n`);
    },
  };
  return backend;
}

/** Counts the elements of set `name` in an `nft list table` listing (null when the set is missing). */
export function countElements(listing: string, name: string): number | null {
  const start = listing.indexOf(`set ${name} {`);
  if (start < 0) return null;
  const end = listing.indexOf('\n\t}', start);
  const body = listing.slice(start, end < 0 ? undefined : end);
  const at = body.indexOf('elements = {');
  if (at < 0) return 0;
  const from = at + 'elements = {'.length;
  const to = body.lastIndexOf('}');
  // Elements are separated by commas (addresses and timeouts never contain one): count them without splitting a
  // listing of 500,000 elements into strings.
  let first = from;
  while (first < to && /\s/.test(body[first]!)) first++;
  if (first >= to) return 0;
  let n = 1;
  for (let i = body.indexOf(',', first); i !== -1 && i < to; i = body.indexOf(',', i + 1)) n++;
  return n;
}
