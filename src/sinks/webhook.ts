import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from '../store/types.js';
import { createDelivery, type Delivery, type DeliveryReport, type WebhookOAuth2 } from './webhook-delivery.js';
import type { WebhookProtocol, WebhookWorkerData } from './webhook-worker.js';
import { RpcClient, RpcError } from '../rpc/index.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import type { Sink } from './types.js';

export { webhookBody } from '../store/outbox.js';
export { backoffMs, parseRetryAfter, webhookSignature, type WebhookOAuth2 } from './webhook-delivery.js';

/** Inputs of the webhook sink. */
export interface WebhookSinkInit {
  /** `-w` URL (http or https). */
  url: string;
  /** `--webhook-secret`: adds `X-Sipwarden-Signature` when set. */
  secret: string | null;
  oauth2: WebhookOAuth2 | null;
  /** The store whose batch transactions also write the outbox rows; must be started before `start()`. */
  store: Pick<EventStore, 'path' | 'enableWebhookOutbox' | 'webhookOutbox' | 'onCommit'>;
  metrics: Metrics;
  logger: Logger;
  /** Per-attempt timeout (whole request/response), ms. Default 10,000. */
  timeoutMs?: number;
  /** Retry backoff, ms: first delay and cap. Defaults 1,000 and 600,000; tests shorten them. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Pending-entry cap (oldest dropped). Default 1,000,000. */
  maxPending?: number;
}

const SINK = 'webhook';
/** Time the delivery thread gets to finish stop() (its own in-flight grace is 1 s) before it is terminated. */
const WORKER_STOP_MS = 3_000;
/** Delay before a delivery thread that died unexpectedly is started again. */
const WORKER_RESTART_MS = 5_000;

/** Starts the delivery thread the same way the store starts its writer (tsx loader when running from sources). */
function spawnWorker(data: WebhookWorkerData): Worker {
  const opts = { workerData: data, name: 'sipwarden-webhook' };
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./webhook-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { ...opts, eval: true });
  }
  return new Worker(new URL('./webhook-worker.js', import.meta.url), opts);
}

/**
 * Webhook sink with a durable outbox.
 *
 * Durability: the factory enables the store's webhook outbox, so every stored event (local or peer) gets one
 * `webhook_outbox` row in the same transaction as its `honey` row. `offer()` is therefore a deliberate no-op —
 * the event reaches the webhook through the store, and nothing is queued in memory that a crash could lose.
 *
 * Delivery (`webhook-delivery.ts`) runs in a worker thread over the store's outbox on its own connection, so
 * HTTP, OAuth2 and outbox reads/writes never compete with capture on the main thread; the main thread only
 * wakes it after each committed batch and applies the metric updates and log records it posts. A `:memory:`
 * store cannot be shared with another connection, so there the same loop runs on the main thread.
 * Semantics: rows in `outbox_id` order, ≤4 in flight; 2xx deletes; network errors, timeouts, 408, 429
 * (Retry-After), 5xx and 3xx back off (1 s doubling to 10 min ±20 %, one probe per interval); other 4xx or
 * 24 h of failures mark the row dead (kept 7 days); OAuth2 401/403 refresh once. After a restart pending rows
 * resume (at-least-once: receivers dedupe on `X-Sipwarden-Event-Id`).
 */
export function createWebhookSink(init: WebhookSinkInit): Sink {
  const { store, metrics } = init;
  const logger = init.logger.child({ sink: SINK });
  const settings = {
    url: init.url,
    secret: init.secret,
    oauth2: init.oauth2,
    timeoutMs: init.timeoutMs ?? 10_000,
    initialMs: init.backoff?.initialMs ?? 1_000,
    maxMs: init.backoff?.maxMs ?? 600_000,
    maxPending: init.maxPending ?? 1_000_000,
  };
  const delivered = metrics.sinkDelivered.labels({ sink: SINK });
  const errors = metrics.sinkErrors.labels({ sink: SINK });
  const dropped = metrics.sinkDropped.labels({ sink: SINK });
  const url = new URL(init.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, `webhook URL must be http(s): ${url.protocol}`, 2);

  const report: DeliveryReport = {
    delivered: (n) => delivered.inc(n),
    errors: (n) => errors.inc(n),
    dropped: (n) => dropped.inc(n),
    pending: (v) => metrics.webhookPending.set(v),
    dead: (v) => metrics.webhookDead.set(v),
    log: (level, obj, msg) => logger[level](obj, msg),
  };

  let started = false;
  let stopped = false;
  /** Main-thread loop (`:memory:` store, or the worker could not start). */
  let local: Delivery | null = null;
  let worker: RpcClient<WebhookProtocol> | null = null;
  let restartTimer: NodeJS.Timeout | null = null;
  let addedSinceWake = 0;
  let wakeScheduled = false;

  // --- the outbox rows: the store writes them in each batch transaction (in its writer thread) --------------
  // Enabled before the store starts; a sink created later gets rows written right after each commit with a
  // writer thread (a crash in between could then lose that batch's outbox rows).
  if (!store.enableWebhookOutbox()) {
    logger.warn('webhook sink created after the store started: outbox rows are written just after each batch commits');
  }
  const unsubscribe = store.onCommit((events) => {
    addedSinceWake += events.length;
    if (!wakeScheduled) {
      wakeScheduled = true;
      // Coalesces the wake-ups of batches committed in one turn of the event loop.
      setImmediate(wake);
    }
  });

  function wake(): void {
    wakeScheduled = false;
    const n = addedSinceWake;
    addedSinceWake = 0;
    if (!started || stopped || n === 0) return;
    if (local) local.added(n);
    else worker?.notify('added', n);
  }

  function startLocal(): void {
    local = createDelivery(store.webhookOutbox(), settings, report);
    local.start();
  }

  /** Starts the delivery thread; resolves once it runs (true) or could not open its connection (false). */
  function startWorker(): Promise<boolean> {
    const data: WebhookWorkerData = { ...settings, path: store.path, niceThread: true };
    const w = spawnWorker(data);
    const rpc = new RpcClient<WebhookProtocol>(w, {
      notes: {
        metrics: (m) => {
          if (m.delivered) delivered.inc(m.delivered);
          if (m.errors) errors.inc(m.errors);
          if (m.dropped) dropped.inc(m.dropped);
          if (m.pending !== null) metrics.webhookPending.set(m.pending);
          if (m.dead !== null) metrics.webhookDead.set(m.dead);
        },
        log: (m) => logger[m.level](m.obj, m.msg),
      },
    });
    worker = rpc;
    return new Promise<boolean>((resolve) => {
      let ready = false;
      rpc.call('ready', undefined).then(
        () => {
          ready = true;
          resolve(true);
        },
        (err: unknown) => {
          // A thread that could not open the database says so; one that died before answering just exited.
          if (err instanceof RpcError && err.code === ERROR_CODES.STORE_OPEN_FAILED) {
            logger.error({ err: err.message }, 'webhook delivery thread could not open the database; delivering on the main thread');
          }
          resolve(false);
        },
      );
      w.on('error', (err) => logger.error({ err: err.message }, 'webhook delivery thread failed'));
      w.on('exit', (code) => {
        if (worker === rpc) worker = null;
        if (!ready) {
          resolve(false);
          return;
        }
        if (stopped) return;
        // Unexpected: rows stay pending in the outbox; a new thread resumes from there.
        metrics.internalErrors.inc({ component: 'webhook' });
        logger.error({ code }, 'webhook delivery thread exited; restarting it in 5 s');
        restartTimer = setTimeout(() => {
          restartTimer = null;
          if (!stopped) void startWorker();
        }, WORKER_RESTART_MS);
        restartTimer.unref();
      });
    });
  }

  return {
    name: SINK,
    async start() {
      if (started) return;
      started = true;
      stopped = false;
      if (store.path === ':memory:' || store.path === '') {
        startLocal();
        return;
      }
      if (!(await startWorker())) {
        await worker?.terminate().catch(() => undefined);
        worker = null;
        if (!stopped) startLocal();
      }
    },
    /** No-op by design: the store writes outbox rows in the event's own transaction. */
    offer() {},
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      if (local) await local.stop();
      const w = worker;
      if (w) {
        // The thread gives in-flight requests ≤1 s, deletes delivered rows, posts its last metrics, then exits.
        const exited = w.exited;
        w.call('stop', undefined).catch(() => undefined);
        let t: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => {
          t = setTimeout(() => r('late'), WORKER_STOP_MS);
        });
        if ((await Promise.race([exited, late])) === 'late') await w.terminate().catch(() => undefined);
        clearTimeout(t);
        worker = null;
      }
    },
  };
}
