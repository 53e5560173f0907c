/**
 * The firewall enforcer: keeps the kernel's sets equal to the block set. It consumes the block set's change
 * stream, coalesces changes for a few milliseconds and applies them with one tool run per batch (at most one
 * run in flight). A failed run is logged, counted and retried with backoff; the retry re-creates what is missing
 * and resynchronises the whole set, so a table deleted by hand comes back. Capture never waits for any of this.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { ERROR_CODES } from '../errors.js';
import type { BlockChange, BlockEntry, BlockSet, Family } from './blockset.js';
import type { FirewallBackend } from './backend.js';

/** Metrics the enforcer reports. */
export interface EnforcerCounters {
  updated(): void;
  failed(): void;
  latency(seconds: number): void;
  elements(family: Family, n: number): void;
}

/** Options of {@link createEnforcer}. */
export interface EnforcerInit {
  backend: FirewallBackend;
  blockSet: BlockSet;
  logger: Logger;
  counters?: EnforcerCounters;
  /** Delete what the backend created on stop (`--firewall-cleanup`). */
  cleanup?: boolean;
  /**
   * Wait after the first change when no run is in flight, so changes published together (one store batch, or a
   * few in quick succession) become one run. Default 5 ms: the store already groups events per committed batch.
   */
  coalesceMs?: number;
  /** A small JSON file `firewall status` reads (last update, counts). */
  stateFile?: string | null;
  now?: () => number;
}

/** The enforcer service. */
export interface Enforcer extends Startable {
  /** Resolves when every change seen so far is applied (or failed). Tests and benches. */
  idle(): Promise<void>;
  /** Time of the last successful update (ms since the epoch), 0 before the first. */
  readonly lastUpdateMs: number;
}

/** Shape of the state file written for `sipwarden firewall status`. */
export interface EnforcerState {
  backend: string;
  pid: number;
  lastUpdateMs: number;
  updates: number;
  failures: number;
  lastError: string | null;
}

/** Builds the enforcer. */
export function createEnforcer(init: EnforcerInit): Enforcer {
  const { backend, blockSet } = init;
  const log = init.logger;
  const now = init.now ?? Date.now;
  const coalesceMs = Math.max(0, init.coalesceMs ?? 5);
  let queue: BlockChange[] = [];
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let needResync = false;
  let stopped = false;
  /** True while start()'s reconcile runs: changes queue up and are applied after it. */
  let starting = false;
  let unsubscribe: (() => void) | null = null;
  let lastUpdateMs = 0;
  let updates = 0;
  let totalFailures = 0;
  let lastError: string | null = null;
  let lastErrorLog = 0;
  let idleWaiters: (() => void)[] = [];
  let stateWriting = false;
  let stateDirty = false;

  const writeState = (): void => {
    if (!init.stateFile) return;
    if (stateWriting) { stateDirty = true; return; }
    stateWriting = true;
    stateDirty = false;
    const st: EnforcerState = { backend: backend.kind, pid: process.pid, lastUpdateMs, updates, failures: totalFailures, lastError };
    // Written aside and renamed, so a reader never sees a half-written file.
    const file = init.stateFile;
    writeFile(`${file}.tmp`, JSON.stringify(st) + '\n', { mode: 0o640 })
      .then(() => rename(`${file}.tmp`, file))
      .catch(() => undefined)
      .finally(() => {
        stateWriting = false;
        if (stateDirty) writeState();
      });
  };

  /** The entries for a reconcile: the block set's own, uncopied, when it offers them (read synchronously). */
  const current = (): Iterable<Readonly<BlockEntry>> => blockSet.live?.() ?? blockSet.snapshot().entries;

  const reportElements = (): void => {
    init.counters?.elements(4, blockSet.size(4));
    init.counters?.elements(6, blockSet.size(6));
  };

  const settleIdle = (): void => {
    if (queue.length === 0 && !running && !retryTimer && !needResync) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const r of w) r();
    }
  };

  const schedule = (delay = coalesceMs): void => {
    if (stopped || starting || running || retryTimer || timer) return;
    timer = setTimeout(() => { timer = undefined; run(); }, delay);
  };

  function run(): void {
    if (running || stopped) return;
    if (!needResync && queue.length === 0) { settleIdle(); return; }
    const resync = needResync;
    const batch = queue;
    queue = [];
    running = (async () => {
      const t = now();
      if (resync) {
        // Re-create whatever is missing and make the sets exact (one transaction with nftables).
        await backend.reconcile(current(), t);
      } else {
        await backend.apply(batch, t);
      }
    })().then(
      () => {
        const done = now();
        if (resync) {
          needResync = false;
          log.info({ v4: blockSet.size(4), v6: blockSet.size(6) }, 'firewall resynchronised');
        } else {
          for (const c of batch) {
            if (c.op === 'add') init.counters?.latency(Math.max(0, done - c.lastHitMs) / 1000);
          }
        }
        failures = 0;
        lastUpdateMs = done;
        updates++;
        init.counters?.updated();
        reportElements();
        writeState();
      },
      (err: unknown) => {
        failures++;
        totalFailures++;
        init.counters?.failed();
        lastError = (err as Error).message;
        // What was not applied is covered by the resync the retry does.
        needResync = true;
        const t = now();
        if (t - lastErrorLog >= 60_000 || failures === 1) {
          lastErrorLog = t;
          log.error({ code: ERROR_CODES.FIREWALL_UPDATE_FAILED, err: lastError, failures }, 'firewall update failed; retrying with backoff (capture continues)');
        }
        writeState();
        const wait = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7));
        retryTimer = setTimeout(() => { retryTimer = undefined; run(); }, wait);
        retryTimer.unref();
      },
    ).finally(() => {
      running = null;
      // Changes that arrived during the run have waited long enough: the next run starts at once.
      if (queue.length > 0) schedule(0);
      settleIdle();
    });
  }

  return {
    get lastUpdateMs() { return lastUpdateMs; },

    async start() {
      if (unsubscribe || stopped) return;
      // Subscribe first: a change published while the (possibly seconds-long) reconcile runs is queued and applied
      // after it, rather than lost until the address's next hit. Changes already in the reconcile are re-applied,
      // which is harmless (an update is idempotent).
      unsubscribe = blockSet.subscribe((changes) => {
        for (const c of changes) queue.push(c);
        // A long outage with a resync pending does not need the individual changes.
        if (needResync && queue.length > 100_000) queue = [];
        schedule();
      });
      starting = true;
      try {
        // Setup and the whole set in one go (one nft transaction); exit-2 errors surface here.
        await backend.reconcile(current(), now());
      } catch (err) {
        unsubscribe();
        unsubscribe = null;
        queue = [];
        throw err;
      } finally {
        starting = false;
      }
      lastUpdateMs = now();
      updates++;
      init.counters?.updated();
      reportElements();
      writeState();
      log.info({ backend: backend.kind, v4: blockSet.size(4), v6: blockSet.size(6) }, 'firewall reconciled');
      if (queue.length > 0) schedule(0);
    },

    idle() {
      if (queue.length === 0 && !running && !retryTimer && !needResync) return Promise.resolve();
      return new Promise<void>((r) => { idleWaiters.push(r); });
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe?.();
      if (timer) clearTimeout(timer);
      if (retryTimer) clearTimeout(retryTimer);
      timer = undefined;
      retryTimer = undefined;
      if (running) await running.catch(() => undefined);
      if (init.cleanup) {
        await backend.teardown().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'firewall cleanup failed'));
      }
      const w = idleWaiters;
      idleWaiters = [];
      for (const r of w) r();
    },
  };
}
