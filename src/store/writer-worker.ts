/**
 * The store's writer thread: owns the one write connection, commits the batches the main thread
 * sends, runs retention between batches. The main thread has already migrated the file.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import { applyPragmas, tuneWriter } from './migrate.js';
import { classifyNumber } from './number-intel.js';
import { createRetention, type Retention } from './retention.js';
import { BatchWriter } from './writer.js';
import { ObserverSet, type BatchObserverModule, type ObserverCount } from './observers.js';
import { createOutboxHook } from './outbox.js';
import type { NotStoredSummary, ShedTally } from './shed.js';
import { enrichEvents, GeoLookup, type GeoPaths } from '../geo/lookup.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import { RpcError, serve } from '../rpc/index.js';

/** Data the main thread hands the worker. */
export interface WriterWorkerData {
  path: string;
  retentionDays: number;
  /** Write the webhook outbox rows in each batch transaction. */
  webhookOutbox: boolean;
  observerModules: BatchObserverModule[];
  /** GeoIP/ASN databases; null: geo fields are written as null; undefined: events' own fields are kept. */
  geo: GeoPaths | null | undefined;
}

/**
 * The writer thread's method map, shared by both sides through `src/rpc/`. A failed batch rejects with
 * `SW_STORE_WRITE_FAILED` and the sqlite error code in `details.sqlite`.
 */
export interface WriterProtocol {
  calls: {
    /** Resolves once the thread has opened the database and loaded its hooks and observers. */
    ready: { params: undefined; result: null };
    /**
     * Commit `events` and add `tally` (events without rows) to the aggregates; the events from `observeFrom` on are
     * shown to the observers first (retries pass the length).
     */
    batch: { params: { events: HoneypotEvent[]; observeFrom: number; tally: ShedTally | null }; result: { ids: number[]; seconds: number } };
    /** SIGHUP: reopen the GeoIP/ASN databases; null, or why the old ones stay. */
    geoReload: { params: undefined; result: string | null };
    pragma: { params: { pragma: string }; result: unknown };
    retention: { params: undefined; result: number };
    /** Stops retention and observers and closes the database; the thread then ends. */
    close: { params: undefined; result: null };
  };
  streams: Record<never, never>;
  toWorker: {
    /** Show events to the observers without committing them (the store is failing and retrying an older batch). */
    observe: HoneypotEvent[];
    /** Write the JSON log's summary line of events that were not stored. */
    summary: NotStoredSummary;
    reopen: null;
  };
  fromWorker: {
    log: { level: 'info' | 'warn'; obj: object; msg: string };
    counts: { sink: string; kind: ObserverCount; n: number }[];
  };
}

const port = parentPort!;
const data = workerData as WriterWorkerData;

let db: Database.Database;
let writer: BatchWriter;
let retention: Retention;
let observers: ObserverSet;
/** undefined: no enrichment step (see {@link WriterWorkerData.geo}). */
let geo: GeoLookup | null | undefined;
let counts: { sink: string; kind: ObserverCount; n: number }[] = [];

/** Observes a batch and sends the counters it produced back to the main thread's registry. */
function observe(events: readonly HoneypotEvent[]): void {
  observers.observe(events);
  if (counts.length > 0) {
    server.notify('counts', counts);
    counts = [];
  }
}

async function init(): Promise<void> {
  db = new Database(data.path, { fileMustExist: true });
  applyPragmas(db, data.path);
  tuneWriter(db);
  writer = new BatchWriter(db, classifyNumber);
  geo = data.geo === undefined || data.geo === null ? data.geo : new GeoLookup(data.geo);
  if (data.webhookOutbox) writer.hooks.push(createOutboxHook());
  observers = await ObserverSet.load(data.observerModules, (sink, kind, n) => counts.push({ sink, kind, n }));
  retention = createRetention({
    db,
    retentionDays: data.retentionDays,
    log: {
      info: (obj, msg) => server.notify('log', { level: 'info', obj, msg }),
      warn: (obj, msg) => server.notify('log', { level: 'warn', obj, msg }),
    },
  });
  retention.start();
}

const server = serve<WriterProtocol>(port, {
  calls: {
    ready: async () => {
      try {
        await ready;
      } catch (err) {
        throw new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, (err as Error).message);
      }
      return null;
    },
    batch: (m) => {
      // Geo fields first, so the observers (JSON log) see them too; a retried batch is looked up again (cached).
      if (geo !== undefined) enrichEvents(m.events, geo);
      if (m.observeFrom < m.events.length) observe(m.observeFrom === 0 ? m.events : m.events.slice(m.observeFrom));
      const t0 = process.hrtime.bigint();
      try {
        const ids = writer.write(m.events, m.tally);
        return { ids, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
      } catch (err) {
        const e = err as Error & { code?: unknown };
        throw new RpcError(ERROR_CODES.STORE_WRITE_FAILED, e.message, { sqlite: typeof e.code === 'string' ? e.code : null });
      }
    },
    geoReload: () => {
      try {
        geo?.reload();
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    },
    pragma: (p) => db.pragma(p.pragma),
    retention: () => retention.runOnce(),
    close: async () => {
      await retention.stop();
      observers.close();
      db.close();
      // The answer is posted before the port closes, so the main thread sees it; then the thread ends.
      setImmediate(() => port.close());
      return null;
    },
  },
  notes: {
    observe: (events) => {
      if (geo !== undefined) enrichEvents(events, geo);
      observe(events);
    },
    summary: (summary) => observers.summary(summary),
    reopen: () => observers.reopen(),
  },
});

// The main thread sends nothing but `ready` before it resolved, so the other handlers may use what init() set up.
const ready = init();
ready.catch(() => undefined);
