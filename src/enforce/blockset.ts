/**
 * The block set: which source addresses are blocked right now and until when, derived from the store's committed
 * batches (local capture and accepted peer records), and published as one ordered stream of changes that every
 * consumer shares (firewall enforcer, a BGP feed, the dashboard, an HTTP stream). Each change carries a
 * monotonically increasing sequence number, so a reader can resume after the last one it saw.
 */
import { isIP } from 'node:net';
import type { Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { HoneypotEvent } from '../events/event.js';
import type { IpAggregate, IpAggregateReader } from '../store/ip-aggregates.js';

/** Address family of a block-set entry. */
export type Family = 4 | 6;

/** Why an entry left the set. */
export type RemoveReason = 'expired' | 'evicted';

/** One change of the block set. */
export interface BlockChange {
  /** Strictly increasing within a process; a new process starts above the last one (it is based on the clock). */
  seq: number;
  /** `add`: new entry; `refresh`: a new hit moved its expiry; `remove`: it left the set. */
  op: 'add' | 'refresh' | 'remove';
  ip: string;
  family: Family;
  /** When the entry expires (ms since the epoch); for `remove`, when it would have. */
  expiresAtMs: number;
  /** Time of the hit that put or kept it there (ms since the epoch). */
  lastHitMs: number;
  reason?: RemoveReason;
}

/** One entry of a {@link BlockSnapshot}. */
export interface BlockEntry {
  ip: string;
  family: Family;
  expiresAtMs: number;
  lastHitMs: number;
}

/** The whole set at sequence `seq`: applying every change after `seq` to it gives the current set. */
export interface BlockSnapshot {
  seq: number;
  entries: BlockEntry[];
}

/**
 * What the block set needs from the block policy (a narrow port, so the policy module stays the one owner of the
 * rules; node.ts adapts it).
 */
export interface BlockPolicyPort {
  /** How long an address stays blocked after its last hit. */
  readonly ttlMs: number;
  /** Most entries per family; past it the oldest last hit goes first. */
  readonly maxPerFamily: number;
  /** Whether peers' records count (else only this node's own capture does). */
  readonly blockPeers: boolean;
  /** Never blocked, whatever the data says (allowlist, loopback, own addresses, peers, ...). */
  isExcluded(ip: string): boolean;
  /** Minimum hits, verified-only and the like, over what the store knows of the address. */
  qualifies(agg: IpAggregate): boolean;
}

/** Counters the block set reports (wired to /metrics by node.ts). */
export interface BlockSetCounters {
  evicted(family: Family, n: number): void;
  excluded(n: number): void;
  elements(family: Family, n: number): void;
}

/** Options of {@link createBlockSet}. */
export interface BlockSetInit {
  /** Committed batches arrive here (`SqliteEventStore.onCommit`). */
  onCommit(listener: (events: readonly HoneypotEvent[]) => void): () => void;
  reader: IpAggregateReader;
  policy: BlockPolicyPort;
  logger: Logger;
  counters?: BlockSetCounters;
  /** Changes kept for readers that resume. Default 100,000. */
  historyMax?: number;
  /** How often expired entries are removed. Default 1,000 ms. */
  sweepMs?: number;
  /** Clock (ms since the epoch); tests pass their own. */
  now?: () => number;
}

/** The block set service. */
export interface BlockSet extends Startable {
  /** Current entries and the sequence number they correspond to. */
  snapshot(): BlockSnapshot;
  /** Changes after `seq`, or `null` when the history no longer reaches back that far (take a snapshot). */
  changesSince(seq: number): BlockChange[] | null;
  /** Latest sequence number. */
  readonly seq: number;
  /** Entries per family. */
  size(family: Family): number;
  has(ip: string): boolean;
  /** Calls `listener` with each group of changes, in order, synchronously after they happen. */
  subscribe(listener: (changes: readonly BlockChange[]) => void): () => void;
  /** Runs the expiry sweep now (tests). */
  sweep(): void;
  /** Evictions since start, per family. */
  evictedCount(family: Family): number;
}

interface Entry {
  ip: string;
  family: Family;
  expiresAtMs: number;
  lastHitMs: number;
  /** Expiry last published in a change; refreshes are coalesced (see refreshStepMs). */
  publishedExpiryMs: number;
}

/** Bound on the set of addresses already logged as excluded (logged once each). */
const EXCLUDED_LOG_MAX = 10_000;

/** Builds the block set. */
export function createBlockSet(init: BlockSetInit): BlockSet {
  const { reader, policy } = init;
  const now = init.now ?? Date.now;
  const log = init.logger;
  const historyMax = Math.max(1, init.historyMax ?? 100_000);
  const sweepMs = Math.max(10, init.sweepMs ?? 1000);
  // A steady attacker would otherwise produce one refresh per batch; publish a refresh only when it moves the
  // expiry by at least this much. The published expiry can lag the real one by less than this step.
  const refreshStepMs = Math.max(1, Math.min(60_000, Math.floor(policy.ttlMs / 10)));
  // Insertion order = order of last hit (a refresh moves the entry to the end), so the front holds both the next
  // entry to expire and the oldest last hit, which is the one to evict.
  const sets: Record<Family, Map<string, Entry>> = { 4: new Map(), 6: new Map() };
  const evicted: Record<Family, number> = { 4: 0, 6: 0 };
  const listeners = new Set<(changes: readonly BlockChange[]) => void>();
  let history: BlockChange[] = [];
  let seq = 0;
  let unsubscribe: (() => void) | null = null;
  let sweepTimer: NodeJS.Timeout | undefined;
  const loggedExcluded = new Set<string>();

  const familyOf = (ip: string): Family | 0 => {
    const v = isIP(ip);
    return v === 4 ? 4 : v === 6 ? 6 : 0;
  };

  const publish = (changes: BlockChange[]): void => {
    if (changes.length === 0) return;
    for (const c of changes) history.push(c);
    if (history.length > historyMax * 2) history = history.slice(history.length - historyMax);
    init.counters?.elements(4, sets[4].size);
    init.counters?.elements(6, sets[6].size);
    for (const l of listeners) {
      try {
        l(changes);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'block-set listener failed');
      }
    }
  };

  const change = (op: BlockChange['op'], e: Entry, reason?: RemoveReason): BlockChange => {
    const c: BlockChange = { seq: ++seq, op, ip: e.ip, family: e.family, expiresAtMs: e.expiresAtMs, lastHitMs: e.lastHitMs };
    if (reason) c.reason = reason;
    return c;
  };

  const evictOver = (family: Family, out: BlockChange[]): void => {
    const set = sets[family];
    let n = 0;
    while (set.size > policy.maxPerFamily) {
      const first = set.values().next().value as Entry;
      set.delete(first.ip);
      out.push(change('remove', first, 'evicted'));
      n++;
    }
    if (n > 0) {
      evicted[family] += n;
      init.counters?.evicted(family, n);
    }
  };

  const noteExcluded = (ip: string): void => {
    init.counters?.excluded(1);
    if (loggedExcluded.has(ip)) return;
    if (loggedExcluded.size >= EXCLUDED_LOG_MAX) loggedExcluded.clear();
    loggedExcluded.add(ip);
    log.warn({ ip }, 'address qualifies for blocking but is never blocked (excluded); not blocked');
  };

  /** Puts `agg` in the set (or refreshes it); returns the change, or null when nothing changed. */
  const upsert = (agg: IpAggregate, family: Family, t: number, emit: boolean): BlockChange | null => {
    const lastHitMs = Math.min(Math.floor(agg.lastSeenUs / 1000), t);
    const expiresAtMs = lastHitMs + policy.ttlMs;
    if (expiresAtMs <= t) return null;
    const set = sets[family];
    const e = set.get(agg.ip);
    if (e === undefined) {
      const n: Entry = { ip: agg.ip, family, expiresAtMs, lastHitMs, publishedExpiryMs: expiresAtMs };
      set.set(agg.ip, n);
      return emit ? change('add', n) : null;
    }
    if (expiresAtMs <= e.expiresAtMs) return null;
    e.expiresAtMs = expiresAtMs;
    e.lastHitMs = lastHitMs;
    set.delete(agg.ip);
    set.set(agg.ip, e);
    if (expiresAtMs - e.publishedExpiryMs < refreshStepMs) return null;
    e.publishedExpiryMs = expiresAtMs;
    return emit ? change('refresh', e) : null;
  };

  const onBatch = (events: readonly HoneypotEvent[]): void => {
    // Distinct addresses of the batch whose events count under the policy.
    const touched = new Set<string>();
    for (const ev of events) {
      const o = ev.origin;
      if (o === 'local' || o === 'legacy' || (o === 'peer' && policy.blockPeers)) touched.add(ev.sourceIp);
    }
    if (touched.size === 0) return;
    const t = now();
    const out: BlockChange[] = [];
    const families = new Set<Family>();
    for (const ip of touched) {
      const family = familyOf(ip);
      if (family === 0) continue;
      const agg = reader.get(ip);
      if (agg === undefined || !policy.qualifies(agg)) continue;
      if (policy.isExcluded(ip)) {
        noteExcluded(ip);
        continue;
      }
      const c = upsert(agg, family, t, true);
      if (c) {
        out.push(c);
        families.add(family);
      }
    }
    for (const f of families) evictOver(f, out);
    publish(out);
  };

  const sweep = (): void => {
    const t = now();
    const out: BlockChange[] = [];
    for (const family of [4, 6] as const) {
      const set = sets[family];
      for (const e of set.values()) {
        if (e.expiresAtMs > t) break;
        set.delete(e.ip);
        out.push(change('remove', e, 'expired'));
      }
    }
    publish(out);
  };

  /** Start-up: every address that qualifies within its TTL, oldest last hit first. */
  const reconcile = (): void => {
    const t = now();
    const sinceUs = (t - policy.ttlMs) * 1000;
    let excluded = 0;
    for (const agg of reader.lastSeenSince(sinceUs)) {
      const family = familyOf(agg.ip);
      if (family === 0 || !policy.qualifies(agg)) continue;
      if (policy.isExcluded(agg.ip)) {
        excluded++;
        continue;
      }
      if (!policy.blockPeers && !reader.hasLocalEventSince(agg.ip, sinceUs)) continue;
      upsert(agg, family, t, false);
    }
    if (excluded > 0) init.counters?.excluded(excluded);
    // Past the cap at start: the newest stay, silently (nothing was published yet).
    for (const family of [4, 6] as const) {
      const set = sets[family];
      while (set.size > policy.maxPerFamily) set.delete((set.values().next().value as Entry).ip);
    }
    init.counters?.elements(4, sets[4].size);
    init.counters?.elements(6, sets[6].size);
  };

  return {
    async start() {
      if (unsubscribe) return;
      // Based on the clock so a reader's cursor from an earlier process is below every new number.
      seq = Date.now() * 1000;
      reconcile();
      log.info({ v4: sets[4].size, v6: sets[6].size }, 'block set reconciled from the store');
      unsubscribe = init.onCommit(onBatch);
      sweepTimer = setInterval(sweep, sweepMs);
      sweepTimer.unref();
    },
    async stop() {
      unsubscribe?.();
      if (sweepTimer) clearInterval(sweepTimer);
      sweepTimer = undefined;
      listeners.clear();
    },
    snapshot() {
      const entries: BlockEntry[] = [];
      for (const family of [4, 6] as const) {
        for (const e of sets[family].values()) entries.push({ ip: e.ip, family, expiresAtMs: e.expiresAtMs, lastHitMs: e.lastHitMs });
      }
      return { seq, entries };
    },
    changesSince(from) {
      if (from >= seq) return [];
      const first = history[0];
      if (first === undefined || first.seq > from + 1) return null;
      // Binary search for the first change after `from`.
      let lo = 0;
      let hi = history.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (history[mid]!.seq <= from) lo = mid + 1;
        else hi = mid;
      }
      return history.slice(lo);
    },
    get seq() { return seq; },
    size: (family) => sets[family].size,
    has: (ip) => sets[4].has(ip) || sets[6].has(ip),
    subscribe(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    sweep,
    evictedCount: (family) => evicted[family],
  };
}
