import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { estimateEventBytes, newUuid, type HoneypotEvent } from '../events/event.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import { applyPragmas, ensureNodeId, openAndMigrate, tuneWriter } from './migrate.js';
import { createRetention, type Retention } from './retention.js';
import { BatchWriter } from './writer.js';
import { ObserverSet, type BatchObserverModule, type ObserverCount } from './observers.js';
import { createOutboxHook, webhookOutboxOn, type WebhookOutbox } from './outbox.js';
import { peerRecordsOn, type PeerRecords } from './peer-records.js';
import { createBlockSetSource, type BlockSetStoreSource } from './block-set-source.js';
import type { BatchHook, CommitListener, EventStore, NumberClassifier } from './types.js';
import { ShedAccounting, type NotStoredSummary, type ShedReason, type ShedTally } from './shed.js';
import type { WriterProtocol, WriterWorkerData } from './writer-worker.js';
import { RpcClient, RpcError } from '../rpc/index.js';
import { enrichEvents, GeoLookup, type GeoPaths } from '../geo/lookup.js';

export type { CommitListener } from './types.js';

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreInit {
  /** Database file, or `:memory:`. */
  path: string;
  metrics: Metrics;
  logger: Logger;
  /** the store schema; ≤ 0 or absent disables retention. */
  retentionDays?: number;
  /** Events per transaction, at most. Default 1,000. */
  batchMaxEvents?: number;
  /** Longest wait before a partial batch is committed. Default 100 ms. */
  batchMaxDelayMs?: number;
  /** Events held while the database is failing; beyond it events are dropped and counted. Default 200,000. */
  maxBacklog?: number;
  /**
   * The same bound in (estimated) bytes, whichever is reached first. Default 32 MiB: 200,000 events of 60 KB
   * would otherwise hold 12 GB while the database is failing.
   */
  maxBacklogBytes?: number;
  /** Number classifier for `number_stats`. Default: libphonenumber (`number-intel.ts`). A custom one forces the main-thread writer. */
  classifier?: NumberClassifier;
  /**
   * Where the writer runs: `worker` (a worker thread with its own connection; the default for files) or `main`
   * (the only choice for `:memory:`, and what a custom classifier forces). `auto` picks as described.
   */
  writer?: 'auto' | 'main' | 'worker';
  /** Called after each committed batch (benchmarks, diagnostics). */
  onBatch?: (events: number, seconds: number) => void;
  /** How long `stop()` keeps retrying a failing database before giving up on the queued events. Default 4,000 ms. */
  stopTimeoutMs?: number;
  /**
   * Distinct sources (and, separately, called numbers) whose events without rows are tallied between two batch
   * transactions; beyond it such events are counted in `sipwarden_store_uncounted_total`. Default 100,000.
   */
  maxTallyKeys?: number;
  /**
   * GeoIP/ASN databases read by the writer (once per new address, cached) to fill the geo columns of every row,
   * local or peer (a peer's own claim is replaced). null: enrichment on with no database, so the geo fields are
   * written as null. Absent: no enrichment step at all (the events' own fields are stored as given; library use).
   * The caller checks the files first.
   */
  geo?: GeoPaths | null;
}

/**
 * The sqlite EventStore plus the store's own extras: the connection and hooks are for code and tests under
 * src/store/ and test/store/ only — everything else holds an {@link EventStore} (node.ts does too).
 */
export interface SqliteEventStore extends EventStore {
  /** Where the writer runs (after `start()`). */
  readonly writerMode: 'main' | 'worker';
  /** The main-thread connection (the writer commits on its own with the worker writer). Store and store tests only. */
  readonly db: Database.Database;
  /**
   * A hook run inside the batch transaction with the main-thread writer; with the worker writer it runs on the
   * main thread right after the batch commits, in its own transaction. Store and store tests only.
   */
  addBatchHook(hook: BatchHook): void;
  /** Runs a PRAGMA on the writer connection (tests simulate a full disk with `max_page_count`). */
  writerPragma(pragma: string): Promise<unknown>;
  /** Runs one retention pass now; resolves with the rows deleted. */
  runRetention(): Promise<number>;
  /** Events waiting (queued or in flight). */
  readonly queueDepth: number;
}

/** Writes batches somewhere; rejects when the batch was not committed (rolled back). */
interface Backend {
  /** Observes `events` from `observeFrom` on, then commits them all with the tally of events without rows. */
  write(events: HoneypotEvent[], observeFrom: number, tally: ShedTally | null): Promise<{ ids: number[]; seconds: number }>;
  /** Observes without committing. */
  observe(events: HoneypotEvent[]): void;
  /** Shows the observers a not-stored summary. */
  summary(s: NotStoredSummary): void;
  reopen(): void;
  geoReload(): Promise<string | null>;
  pragma(p: string): Promise<unknown>;
  retention(): Promise<number>;
  close(): Promise<void>;
}

function mainBackend(
  db: Database.Database, classifier: NumberClassifier, hooks: BatchHook[], retention: Retention, observers: ObserverSet,
  geo: GeoLookup | null | undefined,
): Backend {
  const writer = new BatchWriter(db, classifier, hooks);
  return {
    write(events, observeFrom, tally) {
      if (geo !== undefined) enrichEvents(events, geo);
      if (observeFrom < events.length) observers.observe(observeFrom === 0 ? events : events.slice(observeFrom));
      const t0 = process.hrtime.bigint();
      try {
        const ids = writer.write(events, tally);
        return Promise.resolve({ ids, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    observe: (events) => {
      if (geo !== undefined) enrichEvents(events, geo);
      observers.observe(events);
    },
    summary: (sum) => observers.summary(sum),
    reopen: () => observers.reopen(),
    geoReload() {
      try {
        geo?.reload();
        return Promise.resolve(null);
      } catch (err) {
        return Promise.resolve((err as Error).message);
      }
    },
    pragma: (p) => Promise.resolve(db.pragma(p)),
    retention: () => retention.runOnce(),
    async close() {
      await retention.stop();
      observers.close();
    },
  };
}

async function workerBackend(
  data: WriterWorkerData,
  logger: Logger,
  onCount: (sink: string, kind: ObserverCount, n: number) => void,
): Promise<Backend> {
  let worker: Worker;
  if (import.meta.url.endsWith('.ts')) {
    // Running from TypeScript sources (tests, bench under tsx): the worker needs tsx's loader registered first.
    const url = new URL('./writer-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    worker = new Worker(
      `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`,
      { eval: true, workerData: data, name: 'sipwarden-store-writer' },
    );
  } else {
    worker = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: data, name: 'sipwarden-store-writer' });
  }
  const rpc = new RpcClient<WriterProtocol>(worker, {
    notes: {
      log: (m) => logger[m.level](m.obj, m.msg),
      counts: (counts) => {
        for (const c of counts) onCount(c.sink, c.kind, c.n);
      },
    },
  });
  // A crash is reported through the pending calls (SW_WORKER_EXITED); the 'error' event only needs a listener.
  worker.on('error', () => undefined);
  await rpc.call('ready', undefined);
  return {
    // Events go by structured clone exactly once, as before: the helper adds only a small envelope per batch.
    write: (events, observeFrom, tally) => rpc.call('batch', { events, observeFrom, tally }),
    observe: (events) => rpc.notify('observe', events),
    summary: (summary) => rpc.notify('summary', summary),
    reopen: () => rpc.notify('reopen', null),
    geoReload: () => rpc.call('geoReload', undefined),
    pragma: (pragma) => rpc.call('pragma', { pragma }),
    retention: () => rpc.call('retention', undefined),
    async close() {
      if (!rpc.alive) return;
      const t = setTimeout(() => void worker.terminate(), 5000);
      await rpc.call('close', undefined).catch(() => undefined);
      clearTimeout(t);
      await worker.terminate().catch(() => undefined);
    },
  };
}

/** The sqlite error code of a failed write (carried in the details when the batch failed in the writer thread). */
function sqliteCode(err: unknown): unknown {
  if (err instanceof RpcError) return err.details?.['sqlite'] ?? null;
  return (err as { code?: unknown } | null)?.code ?? null;
}

/**
 * The sqlite event store: one batching writer (≤ `batchMaxDelayMs` or `batchMaxEvents` per transaction)
 * fed by a synchronous, never-throwing `append`. By default the writer runs in a worker thread with its own
 * connection, so batch commits and checkpoints never stall capture; `:memory:` runs it on the main thread.
 * A failing database (disk full, I/O error, busy) never throws to callers: the batch is retried with backoff,
 * events beyond `maxBacklog` are dropped and counted, and the error is logged at most once a minute.
 */
export function createSqliteStore(init: SqliteStoreInit): SqliteEventStore {
  const { path, metrics } = init;
  const log = init.logger.child({ component: 'store' });
  const batchMax = Math.max(1, init.batchMaxEvents ?? 1000);
  const delayMs = Math.max(0, init.batchMaxDelayMs ?? 100);
  const maxBacklog = Math.max(batchMax, init.maxBacklog ?? 200_000);
  const maxBacklogBytes = Math.max(1, init.maxBacklogBytes ?? 32 * 1024 * 1024);
  /** Estimated bytes of the events queued or in flight. */
  let backlogBytes = 0;
  const stopTimeoutMs = init.stopTimeoutMs ?? 4000;
  const mode: 'main' | 'worker' =
    path === ':memory:' || init.classifier !== undefined ? 'main'
      : init.writer === 'main' ? 'main' : 'worker';
  if (init.writer === 'worker' && mode === 'main') log.warn({ path }, 'worker writer not possible here; using the main-thread writer');

  let db: Database.Database | undefined;
  let backend: Backend | undefined;
  /** The main-thread connection (after start). */
  const connection = (): Database.Database => {
    if (!db) throw new SipwardenError(ERROR_CODES.INTERNAL, 'store not started');
    return db;
  };
  let nodeId = '';
  const fnHooks: BatchHook[] = [];
  const commitListeners = new Set<CommitListener>();
  /** Outbox rows in the batch transaction (enabled before start). */
  let outboxInTx = false;
  /** Outbox rows by a function hook (enabled after start). */
  let outboxLate = false;
  const observerSpecs: BatchObserverModule[] = [];
  const countObserver = (sink: string, kind: ObserverCount, n: number): void => {
    const counter = kind === 'delivered' ? metrics.sinkDelivered : kind === 'dropped' ? metrics.sinkDropped : metrics.sinkErrors;
    counter.labels({ sink }).inc(n);
  };
  /** How many events of a chunk the observers have seen (a chunk may grow after it was observed). */
  const observedOf = new WeakMap<HoneypotEvent[], number>();
  let observeTimer: NodeJS.Timeout | undefined;

  // Queue of chunks, each ≤ batchMax events: the head chunk is the next batch (O(1) take, no array shifting).
  const chunks: HoneypotEvent[][] = [];
  let queued = 0;
  let inflight: HoneypotEvent[] | null = null;
  let appended = 0; // events accepted so far
  let committed = 0; // of those, committed or given up
  const waiters: { target: number; resolve: () => void }[] = [];
  /** Events without rows, tallied for the aggregates and the JSON log's summary line. */
  const shed = new ShedAccounting(init.maxTallyKeys);
  /** The tally travelling with the batch in flight (retried with it). */
  let inflightTally: ShedTally | null = null;
  let summaryTimer: NodeJS.Timeout | undefined;
  const shedCounters = new Map<ShedReason, { inc(): void }>();
  /** Counts one shed row by reason (per event under a flood, so through a hot counter). */
  const countShed = (reason: ShedReason): void => {
    let c = shedCounters.get(reason);
    if (c === undefined) {
      c = metrics.hotCounter(metrics.storeRowsShed, { reason });
      shedCounters.set(reason, c);
    }
    c.inc();
  };
  /** Reports tally overflow and hands the summary of the last second to the observers; stops when nothing was shed. */
  const emitSummary = (): void => {
    const o = shed.takeOverflow();
    if (o.ip_stats > 0) metrics.storeUncounted.inc({ table: 'ip_stats' }, o.ip_stats);
    if (o.number_stats > 0) metrics.storeUncounted.inc({ table: 'number_stats' }, o.number_stats);
    const sum = shed.takeSummary();
    if (sum === null) {
      if (summaryTimer) { clearInterval(summaryTimer); summaryTimer = undefined; }
      return;
    }
    if (observerSpecs.length > 0) backend?.summary(sum);
  };
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let lastErrorLog = 0;
  let lastDropLog = 0;
  let started = false;
  let stopping = false;
  let stopPromise: Promise<void> | undefined;
  let hasEventStmt: Database.Statement | undefined;

  const settle = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.target <= committed) {
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
  };

  const schedule = (): void => {
    if (!started || inflight || retryTimer) return;
    const work = queued + shed.pending;
    if (queued >= batchMax || ((stopping || waiters.length > 0) && work > 0)) {
      if (timer) { clearTimeout(timer); timer = undefined; }
      immediate ??= setImmediate(() => { immediate = undefined; pump(); });
    } else if (work > 0 && !timer && !immediate) {
      timer = setTimeout(() => { timer = undefined; pump(); }, delayMs);
    }
  };

  function pump(): void {
    if (!backend || inflight || retryTimer || (queued === 0 && shed.pending === 0)) return;
    if (timer) { clearTimeout(timer); timer = undefined; }
    if (immediate) { clearImmediate(immediate); immediate = undefined; }
    // A batch of rows, or only the tally of events without rows (then the transaction updates the aggregates alone).
    const batch = chunks.shift() ?? [];
    queued -= batch.length;
    inflight = batch;
    inflightTally = shed.take();
    metrics.storeQueueDepth.set(queued + batch.length);
    attempt();
  }

  /**
   * Events the store had to drop (backlog full) still go to the observers: the JSON log is the record of last resort
   * while the database cannot keep up or is failing. Held at most one batch window, in a bounded list.
   */
  let unstored: HoneypotEvent[] = [];
  let unstoredTimer: NodeJS.Timeout | undefined;
  function flushUnstored(): void {
    if (unstoredTimer) { clearTimeout(unstoredTimer); unstoredTimer = undefined; }
    if (unstored.length === 0) return;
    // Queued events first, so the log keeps arrival order as far as it can.
    observePending();
    backend?.observe(unstored);
    unstored = [];
  }

  /** Shows the observers every queued event they have not seen yet (used while the database is failing). */
  function observePending(): void {
    for (const c of chunks) {
      const seen = observedOf.get(c) ?? 0;
      if (seen < c.length) {
        backend?.observe(c.slice(seen));
        observedOf.set(c, c.length);
      }
    }
  }

  function attempt(): void {
    const batch = inflight!;
    const seen = observedOf.get(batch) ?? 0;
    observedOf.set(batch, batch.length);
    backend!.write(batch, seen, inflightTally).then(
      ({ ids, seconds }) => {
        if (observeTimer) { clearInterval(observeTimer); observeTimer = undefined; }
        metrics.storeBatchSeconds.observe(seconds);
        init.onBatch?.(batch.length, seconds);
        inflight = null;
        failures = 0;
        committed += batch.length + (inflightTally?.events ?? 0);
        inflightTally = null;
        for (const e of batch) backlogBytes -= estimateEventBytes(e);
        metrics.storeQueueDepth.set(queued);
        if (mode === 'worker' && fnHooks.length > 0) runMainThreadHooks(batch, ids);
        for (const l of commitListeners) {
          try {
            l(batch);
          } catch (err) {
            metrics.internalErrors.inc({ component: 'store' });
            log.error({ err: (err as Error).message }, 'commit listener failed');
          }
        }
        settle();
        schedule();
      },
      (err: unknown) => {
        metrics.storeWriteErrors.inc();
        failures++;
        metrics.storeQueueDepth.set(queued + batch.length);
        const now = Date.now();
        if (now - lastErrorLog >= 60_000) {
          lastErrorLog = now;
          log.error(
            { code: ERROR_CODES.STORE_WRITE_FAILED, sqlite: sqliteCode(err), err: (err as Error).message, queued: queued + batch.length },
            'store write failed; retrying with backoff (capture continues)',
          );
        }
        // The JSON log and other observers must not wait for the database to recover.
        if (observerSpecs.length > 0 && !observeTimer) {
          observeTimer = setInterval(observePending, Math.max(10, delayMs));
          observeTimer.unref();
        }
        const wait = Math.min(5000, 50 * 2 ** Math.min(failures - 1, 7));
        if (stopping && stopDeadline !== 0 && now + wait > stopDeadline) {
          giveUp();
          return;
        }
        retryTimer = setTimeout(() => { retryTimer = undefined; attempt(); }, wait);
      },
    );
  }

  let stopDeadline = 0;
  /** stop() ran out of time with the database still failing: count what is left as dropped. */
  function giveUp(): void {
    const lost = (inflight?.length ?? 0) + queued;
    // Neither these rows nor the tallies of earlier shed events can be written: count both honestly.
    const untallied = lost + (inflightTally?.events ?? 0) + (shed.take()?.events ?? 0);
    inflightTally = null;
    if (lost > 0) metrics.storeRowsShed.inc({ reason: 'shutdown' }, lost);
    if (untallied > 0) {
      metrics.storeUncounted.inc({ table: 'ip_stats' }, untallied);
      metrics.storeUncounted.inc({ table: 'number_stats' }, untallied);
    }
    observePending();
    flushUnstored();
    if (observeTimer) { clearInterval(observeTimer); observeTimer = undefined; }
    metrics.storeDropped.inc(lost);
    log.error({ code: ERROR_CODES.STORE_WRITE_FAILED, lost }, 'store still failing at shutdown; queued events lost');
    inflight = null;
    chunks.length = 0;
    queued = 0;
    backlogBytes = 0;
    committed = appended;
    settle();
  }

  function runMainThreadHooks(events: HoneypotEvent[], ids: number[]): void {
    try {
      db!.transaction(() => { for (const h of fnHooks) h(db!, events, ids); })();
    } catch (err) {
      metrics.internalErrors.inc({ component: 'store' });
      log.error({ err: (err as Error).message }, 'batch hook failed');
    }
  }

  const store: SqliteEventStore = {
    get nodeId() { return nodeId; },
    get db() {
      return connection();
    },
    path,
    get writerMode() { return mode; },
    get queueDepth() { return queued + (inflight?.length ?? 0); },

    async start() {
      if (started || stopPromise) return;
      const opened = openAndMigrate(path);
      db = opened.db;
      if (opened.report.backupPath) log.warn({ backup: opened.report.backupPath }, 'SentryPeer database backed up before migration');
      if (opened.report.applied.length) log.info({ path, applied: opened.report.applied }, 'store schema migrated');
      nodeId = ensureNodeId(db, newUuid);
      hasEventStmt = db.prepare('SELECT 1 FROM honey WHERE event_uuid = ? LIMIT 1');
      try {
        if (mode === 'main') {
          tuneWriter(db);
          // The outbox hook first, then function hooks; fnHooks is shared by reference so later additions apply.
          if (outboxInTx) fnHooks.unshift(createOutboxHook());
          const hooks = fnHooks;
          const retention = createRetention({ db, retentionDays: init.retentionDays ?? 0, log });
          const observers = await ObserverSet.load(observerSpecs, countObserver);
          // libphonenumber's metadata costs megabytes of heap: load it only in the thread that classifies.
          const classifier = init.classifier ?? (await import('./number-intel.js')).classifyNumber;
          const geo = init.geo === undefined ? undefined : init.geo === null ? null : new GeoLookup(init.geo);
          backend = mainBackend(db, classifier, hooks, retention, observers, geo);
          retention.start();
        } else {
          backend = await workerBackend(
            { path, retentionDays: init.retentionDays ?? 0, webhookOutbox: outboxInTx, observerModules: observerSpecs, geo: init.geo },
            log,
            countObserver,
          );
        }
      } catch (err) {
        db.close();
        db = undefined;
        throw new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, `cannot start store writer for ${path}: ${(err as Error).message}`, 1, { cause: err });
      }
      started = true;
      schedule();
    },

    append(event) {
      try {
        if (stopPromise && !stopping) { metrics.storeDropped.inc(); countShed('shutdown'); return; }
        const size = estimateEventBytes(event);
        const fullEvents = queued + (inflight?.length ?? 0) >= maxBacklog;
        if (fullEvents || backlogBytes + size > maxBacklogBytes) {
          metrics.storeDropped.inc();
          let logged = false;
          if (observerSpecs.length > 0 && unstored.length < maxBacklog) {
            unstored.push(event);
            unstoredTimer ??= setTimeout(flushUnstored, Math.max(10, delayMs));
            logged = true;
          }
          // No row, but the count: tallied for the next batch transaction's ip_stats and number_stats.
          const reason: ShedReason = fullEvents ? 'backlog_events' : 'backlog_bytes';
          countShed(reason);
          shed.add(event, reason, logged);
          appended++; // flush() and stop() wait for the tally to be committed too
          if (shed.pending === 1) schedule();
          if (summaryTimer === undefined) {
            summaryTimer = setInterval(emitSummary, 1000);
            summaryTimer.unref();
          }
          const now = Date.now();
          if (now - lastDropLog >= 60_000) {
            lastDropLog = now;
            log.error({ maxBacklog, maxBacklogBytes }, 'store backlog full; dropping events (counted in sipwarden_store_dropped_total)');
          }
          return;
        }
        let tail = chunks[chunks.length - 1];
        if (tail === undefined || tail.length >= batchMax) { tail = []; chunks.push(tail); }
        tail.push(event);
        queued++;
        backlogBytes += size;
        appended++;
        // While writes fail no batch completes, so keep the gauge current here (cheap; healthy runs skip it).
        if (failures > 0) metrics.storeQueueDepth.set(queued + (inflight?.length ?? 0));
        if (queued === 1 || tail.length === batchMax) schedule();
      } catch {
        metrics.storeDropped.inc();
      }
    },

    flush() {
      if (committed >= appended) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiters.push({ target: appended, resolve });
        if (started && !retryTimer && !inflight) pump();
      });
    },

    hasEvent(eventUuid) {
      if (inflight) for (const e of inflight) if (e.eventUuid === eventUuid) return true;
      for (const c of chunks) for (const e of c) if (e.eventUuid === eventUuid) return true;
      try {
        return hasEventStmt?.get(eventUuid) !== undefined;
      } catch {
        return false;
      }
    },

    addBatchHook(hook) {
      fnHooks.push(hook);
    },

    enableWebhookOutbox() {
      if (!started) {
        outboxInTx = true;
        return true;
      }
      // Too late for the writer thread: function hooks run here right after each commit, in their own transaction.
      if (!outboxInTx && !outboxLate) fnHooks.push(createOutboxHook());
      outboxLate = true;
      return outboxInTx || mode === 'main';
    },

    webhookOutbox(): WebhookOutbox {
      return webhookOutboxOn(connection());
    },

    peerRecords(): PeerRecords {
      return peerRecordsOn(connection());
    },

    blockSetSource(): BlockSetStoreSource {
      return createBlockSetSource(connection());
    },

    addBatchObserver(spec) {
      if (started) throw new SipwardenError(ERROR_CODES.INTERNAL, 'addBatchObserver after start()');
      observerSpecs.push(spec);
    },

    reopenObservers() {
      backend?.reopen();
    },

    onCommit(listener) {
      commitListeners.add(listener);
      return () => { commitListeners.delete(listener); };
    },
    reloadGeo() {
      return backend ? backend.geoReload() : Promise.resolve(null);
    },

    writerPragma(p) {
      if (!backend) return Promise.reject(new SipwardenError(ERROR_CODES.INTERNAL, 'store not started'));
      return backend.pragma(p);
    },

    runRetention() {
      if (!backend) return Promise.resolve(0);
      return backend.retention();
    },

    stop() {
      stopPromise ??= (async () => {
        if (!started) { db?.close(); return; }
        stopping = true;
        stopDeadline = Date.now() + stopTimeoutMs;
        const drained = store.flush();
        pump();
        const deadline = new Promise<'timeout'>((r) => { const t = setTimeout(() => r('timeout'), stopTimeoutMs + 500); t.unref(); });
        if ((await Promise.race([drained.then(() => 'ok' as const), deadline])) === 'timeout') {
          if (retryTimer) { clearTimeout(retryTimer); retryTimer = undefined; }
          giveUp();
        }
        if (timer) clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        stopping = false;
        flushUnstored();
        emitSummary();
        if (summaryTimer) { clearInterval(summaryTimer); summaryTimer = undefined; }
        await backend!.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'store writer close failed'));
        try { db!.pragma('wal_checkpoint(TRUNCATE)'); } catch { /* another connection may still read */ }
        db!.close();
        metrics.storeQueueDepth.set(0);
      })();
      return stopPromise;
    },
  };
  return store;
}

/** Re-exported for node wiring: pragmas for extra read-only connections (API workers). */
export { applyPragmas };
