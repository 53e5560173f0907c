/**
 * The webhook delivery thread: runs {@link createDelivery} over the store's webhook outbox on a connection of
 * its own to the store's file (`openWebhookOutbox`), so HTTP, OAuth2 and outbox reads/writes never run on the thread that
 * receives and answers SIP. Metrics leave as coalesced deltas/values (prom-client lives on the main thread),
 * logs as records the main thread's logger writes.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openWebhookOutbox, type WebhookOutboxConnection } from '../store/outbox.js';
import { createDelivery, errText, type Delivery, type DeliverySettings } from './webhook-delivery.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import { serve } from '../rpc/index.js';

/** Data the main thread hands the worker. */
export interface WebhookWorkerData extends DeliverySettings {
  /** Database file (never `:memory:`). */
  path: string;
  /** Run the thread at nice ≥10 (Linux), so capture wins the CPU under load. */
  niceThread: boolean;
}

/** The delivery thread's method map, shared by both sides through `src/rpc/`. */
export interface WebhookProtocol {
  calls: {
    /** Resolves once delivery runs; rejects with `SW_STORE_OPEN_FAILED` if the thread could not open the database. */
    ready: { params: undefined; result: null };
    /** Gives in-flight requests ≤1 s, deletes delivered rows, posts the last metrics; the thread then ends. */
    stop: { params: undefined; result: null };
  };
  streams: Record<never, never>;
  /** `added`: rows were committed to the outbox (the count since the last wake-up). */
  toWorker: { added: number };
  fromWorker: {
    /** Coalesced metric deltas (counters) and latest values (gauges; null: unchanged). */
    metrics: { delivered: number; errors: number; dropped: number; pending: number | null; dead: number | null };
    log: { level: 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string };
  };
}

const port = parentPort!;
const data = workerData as WebhookWorkerData;

/** How often coalesced metric updates are posted (deliveries can run at thousands per second). */
const METRICS_EVERY_MS = 50;
let delivered = 0;
let errors = 0;
let dropped = 0;
let pending: number | null = null;
let dead: number | null = null;
let metricsTimer: NodeJS.Timeout | null = null;

function flushMetrics(): void {
  if (metricsTimer) {
    clearTimeout(metricsTimer);
    metricsTimer = null;
  }
  if (!delivered && !errors && !dropped && pending === null && dead === null) return;
  server.notify('metrics', { delivered, errors, dropped, pending, dead });
  delivered = errors = dropped = 0;
  pending = dead = null;
}
function metricsChanged(): void {
  metricsTimer ??= setTimeout(flushMetrics, METRICS_EVERY_MS);
}

/**
 * Linux: lower this thread's scheduling priority (nice 10, per thread via its task id; lowering needs no
 * privilege). Under CPU contention capture and replies on the main thread win and delivery takes the slack,
 * which the durable outbox absorbs; with idle CPU delivery runs at full speed.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.max(10, getNice(tid)));
  } catch {
    /* not Linux, or /proc unavailable: keep the default priority */
  }
}
function getNice(tid: number): number {
  try {
    return getPriority(tid);
  } catch {
    return 0;
  }
}
if (data.niceThread) lowerPriority();

let outbox: WebhookOutboxConnection | undefined;
let delivery: Delivery | undefined;
let initError: string | null = null;
let stopping = false;

const server = serve<WebhookProtocol>(port, {
  calls: {
    ready: () => {
      if (initError !== null) throw new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, initError);
      return null;
    },
    stop: async () => {
      if (!delivery || stopping) return null;
      stopping = true;
      try {
        await delivery.stop();
      } finally {
        flushMetrics();
        try { outbox!.close(); } catch { /* nothing left to do */ }
        // The answer is posted before the port closes; then the thread ends.
        setImmediate(() => port.close());
      }
      return null;
    },
  },
  notes: {
    added: (n) => {
      if (delivery && !stopping) delivery.added(n);
    },
  },
});

try {
  outbox = openWebhookOutbox(data.path);
  delivery = createDelivery(outbox, data, {
    delivered: (n) => { delivered += n; metricsChanged(); },
    errors: (n) => { errors += n; metricsChanged(); },
    dropped: (n) => { dropped += n; metricsChanged(); },
    pending: (v) => { pending = v; metricsChanged(); },
    dead: (v) => { dead = v; metricsChanged(); },
    log: (level, obj, msg) => server.notify('log', { level, obj, msg }),
  });
  delivery.start();
} catch (err) {
  try { outbox?.close(); } catch { /* already failing */ }
  delivery = undefined;
  initError = errText(err);
}
