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

/** Main → worker messages. */
export type ToWorker =
  /**
   * Commit `events` and add `tally` (events without rows) to the aggregates; the events from `observeFrom` on are
   * shown to the observers first (retries pass the length).
   */
  | { type: 'batch'; id: number; events: HoneypotEvent[]; observeFrom: number; tally: ShedTally | null }
  /** Write the JSON log's summary line of events that were not stored. */
  | { type: 'summary'; summary: NotStoredSummary }
  /** Show events to the observers without committing them (the store is failing and retrying an older batch). */
  | { type: 'observe'; events: HoneypotEvent[] }
  | { type: 'reopen' }
  /** SIGHUP: reopen the GeoIP/ASN databases (answered with a `result`: null, or why the old ones stay). */
  | { type: 'geo-reload'; id: number }
  | { type: 'pragma'; id: number; pragma: string }
  | { type: 'retention'; id: number }
  | { type: 'close' };

/** Worker → main messages. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'done'; id: number; ids: number[]; seconds: number }
  | { type: 'failed'; id: number; message: string; code: string | null }
  | { type: 'result'; id: number; value: unknown; error: string | null }
  | { type: 'log'; level: 'info' | 'warn'; obj: object; msg: string }
  | { type: 'counts'; counts: { sink: string; kind: ObserverCount; n: number }[] }
  | { type: 'closed' };

const port = parentPort!;
const data = workerData as WriterWorkerData;
const send = (m: FromWorker): void => port.postMessage(m);

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
    send({ type: 'counts', counts });
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
      info: (obj, msg) => send({ type: 'log', level: 'info', obj, msg }),
      warn: (obj, msg) => send({ type: 'log', level: 'warn', obj, msg }),
    },
  });
  retention.start();
}

const ready = init().then(
  () => send({ type: 'ready' }),
  (err: unknown) => send({ type: 'init-failed', message: (err as Error).message }),
);

port.on('message', (m: ToWorker) => {
  void ready.then(async () => {
    switch (m.type) {
      case 'batch': {
        // Geo fields first, so the observers (JSON log) see them too; a retried batch is looked up again (cached).
        if (geo !== undefined) enrichEvents(m.events, geo);
        if (m.observeFrom < m.events.length) observe(m.observeFrom === 0 ? m.events : m.events.slice(m.observeFrom));
        const t0 = process.hrtime.bigint();
        try {
          const ids = writer.write(m.events, m.tally);
          send({ type: 'done', id: m.id, ids, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
        } catch (err) {
          const e = err as Error & { code?: unknown };
          send({ type: 'failed', id: m.id, message: e.message, code: typeof e.code === 'string' ? e.code : null });
        }
        break;
      }
      case 'observe':
        if (geo !== undefined) enrichEvents(m.events, geo);
        observe(m.events);
        break;
      case 'summary':
        observers.summary(m.summary);
        break;
      case 'reopen':
        observers.reopen();
        break;
      case 'geo-reload':
        try {
          geo?.reload();
          send({ type: 'result', id: m.id, value: null, error: null });
        } catch (err) {
          send({ type: 'result', id: m.id, value: (err as Error).message, error: null });
        }
        break;
      case 'pragma':
        try {
          send({ type: 'result', id: m.id, value: db.pragma(m.pragma), error: null });
        } catch (err) {
          send({ type: 'result', id: m.id, value: null, error: (err as Error).message });
        }
        break;
      case 'retention':
        send({ type: 'result', id: m.id, value: await retention.runOnce(), error: null });
        break;
      case 'close':
        await retention.stop();
        observers.close();
        try {
          db.close();
        } finally {
          send({ type: 'closed' });
          port.close();
        }
        break;
    }
  });
});
