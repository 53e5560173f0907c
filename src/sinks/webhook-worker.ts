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

/** Data the main thread hands the worker. */
export interface WebhookWorkerData extends DeliverySettings {
  /** Database file (never `:memory:`). */
  path: string;
  /** Run the thread at nice ≥10 (Linux), so capture wins the CPU under load. */
  niceThread: boolean;
}

/** Main → worker messages. */
export type ToWebhookWorker = { type: 'added'; n: number } | { type: 'stop' };

/** Worker → main messages. */
export type FromWebhookWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'metrics'; delivered: number; errors: number; dropped: number; pending: number | null; dead: number | null }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

const port = parentPort!;
const data = workerData as WebhookWorkerData;
const send = (m: FromWebhookWorker): void => port.postMessage(m);

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
  send({ type: 'metrics', delivered, errors, dropped, pending, dead });
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
try {
  outbox = openWebhookOutbox(data.path);
  delivery = createDelivery(outbox, data, {
    delivered: (n) => { delivered += n; metricsChanged(); },
    errors: (n) => { errors += n; metricsChanged(); },
    dropped: (n) => { dropped += n; metricsChanged(); },
    pending: (v) => { pending = v; metricsChanged(); },
    dead: (v) => { dead = v; metricsChanged(); },
    log: (level, obj, msg) => send({ type: 'log', level, obj, msg }),
  });
  delivery.start();
  send({ type: 'ready' });
} catch (err) {
  try { outbox?.close(); } catch { /* already failing */ }
  send({ type: 'init-failed', message: errText(err) });
}

let stopping = false;
port.on('message', (m: ToWebhookWorker) => {
  if (!delivery || stopping) return;
  if (m.type === 'added') {
    delivery.added(m.n);
  } else if (m.type === 'stop') {
    stopping = true;
    void delivery.stop().finally(() => {
      flushMetrics();
      try { outbox!.close(); } catch { /* nothing left to do */ }
      send({ type: 'stopped' });
      port.close();
    });
  }
});
