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
import { decideIp, type BlockPolicy, type ExclusionReason, type IpFacts } from './policy.js';

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

/** What the block set reads from the store (implemented in `src/store/`, so no SQL lives here). */
export interface BlockFactsSource {
  /** What the store knows of one address after the last committed batch, or null when never seen. */
  facts(ip: string): IpFacts | null;
  /**
   * Calls `visit` for every address that qualifies under `policy` at `nowUs` (exclusions not applied), newest
   * counted hit first, with the time of that hit (µs). A callback rather than an iterator: at 500,000 rows the
   * per-row objects of an iterator cost the start-up reconcile a noticeable share of its time.
   */
  qualifying(policy: BlockPolicy, nowUs: number, visit: (ip: string, lastUs: number) => void): void;
}

/** The never-blocked check (the policy module's `Exclusions`). */
export interface ExclusionCheck {
  reason(ip: string): ExclusionReason | null;
}

/** Counters the block set reports (wired to /metrics by node.ts). */
export interface BlockSetCounters {
  evicted(family: Family, n: number): void;
  /** A qualifying address was not blocked because it is never blocked; `first` is true once per address. */
  excluded(ip: string, reason: ExclusionReason, first: boolean): void;
  elements(family: Family, n: number): void;
}

/** Options of {@link createBlockSet}. */
export interface BlockSetInit {
  /** Committed batches arrive here (`EventStore.onCommit`). */
  onCommit(listener: (events: readonly HoneypotEvent[]) => void): () => void;
  facts: BlockFactsSource;
  policy: BlockPolicy;
  exclusions: ExclusionCheck;
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
  /**
   * The current entries themselves, without the copy {@link snapshot} makes (the firewall reconcile of 500,000
   * entries): read them in one synchronous pass, they change with the set. Optional so simple fakes need not
   * provide it; readers fall back to `snapshot().entries`.
   */
  live?(): Iterable<Readonly<BlockEntry>>;
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
  const { facts: source, policy, exclusions } = init;
  const ttlMs = policy.ttlSeconds * 1000;
  const now = init.now ?? Date.now;
  const log = init.logger;
  const historyMax = Math.max(1, init.historyMax ?? 100_000);
  const sweepMs = Math.max(10, init.sweepMs ?? 1000);
  // A steady attacker would otherwise produce one refresh per batch; publish a refresh only when it moves the
  // expiry by at least this much. The published expiry can lag the real one by less than this step.
  const refreshStepMs = Math.max(1, Math.min(60_000, Math.floor(ttlMs / 10)));
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

  const noteExcluded = (ip: string, reason: ExclusionReason): void => {
    const first = !loggedExcluded.has(ip);
    if (first) {
      if (loggedExcluded.size >= EXCLUDED_LOG_MAX) loggedExcluded.clear();
      loggedExcluded.add(ip);
      log.debug({ ip, reason }, 'address qualifies for blocking but is never blocked');
    }
    init.counters?.excluded(ip, reason, first);
  };

  /** Puts `ip` in the set (or refreshes it); returns the change, or null when nothing changed. */
  const upsert = (ip: string, lastUs: number, family: Family, t: number, emit: boolean): BlockChange | null => {
    // A peer's clock may run ahead: a hit is never later than now.
    const lastHitMs = Math.min(Math.floor(lastUs / 1000), t);
    const expiresAtMs = lastHitMs + ttlMs;
    if (expiresAtMs <= t) return null;
    const set = sets[family];
    const e = set.get(ip);
    if (e === undefined) {
      const n: Entry = { ip, family, expiresAtMs, lastHitMs, publishedExpiryMs: expiresAtMs };
      set.set(ip, n);
      return emit ? change('add', n) : null;
    }
    if (expiresAtMs <= e.expiresAtMs) return null;
    e.expiresAtMs = expiresAtMs;
    e.lastHitMs = lastHitMs;
    set.delete(ip);
    set.set(ip, e);
    if (expiresAtMs - e.publishedExpiryMs < refreshStepMs) return null;
    e.publishedExpiryMs = expiresAtMs;
    return emit ? change('refresh', e) : null;
  };

  const onBatch = (events: readonly HoneypotEvent[]): void => {
    // Distinct addresses of the batch; the policy decides from the store's facts which origins count.
    const touched = new Set<string>();
    for (const ev of events) touched.add(ev.sourceIp);
    const t = now();
    const out: BlockChange[] = [];
    const families = new Set<Family>();
    for (const ip of touched) {
      const family = familyOf(ip);
      if (family === 0) continue;
      const f = source.facts(ip);
      if (f === null) continue;
      const d = decideIp(f, policy, t * 1000);
      if (!d.qualifies || d.lastHitUs === null) continue;
      const why = exclusions.reason(ip);
      if (why !== null) {
        noteExcluded(ip, why);
        continue;
      }
      const c = upsert(ip, d.lastHitUs, family, t, true);
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
    // Newest first: keep the first `maxPerFamily` of each family, then insert them oldest first (map order).
    // Parallel arrays, no object per row.
    const ips: Record<Family, string[]> = { 4: [], 6: [] };
    const lasts: Record<Family, number[]> = { 4: [], 6: [] };
    source.qualifying(policy, t * 1000, (ip, lastUs) => {
      const family = familyOf(ip);
      if (family === 0 || ips[family].length >= policy.maxPerFamily) return;
      const why = exclusions.reason(ip);
      if (why !== null) {
        noteExcluded(ip, why);
        return;
      }
      ips[family].push(ip);
      lasts[family].push(lastUs);
    });
    for (const family of [4, 6] as const) {
      const a = ips[family];
      const l = lasts[family];
      for (let i = a.length - 1; i >= 0; i--) upsert(a[i]!, l[i]!, family, t, false);
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
    *live() {
      for (const family of [4, 6] as const) yield* sets[family].values();
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
