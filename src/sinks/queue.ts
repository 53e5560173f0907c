import type { HoneypotEvent } from '../events/event.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** Sink bounds: a sink queue holds at most this many events… */
export const SINK_QUEUE_MAX_EVENTS = 10_000;
/** …or this many (estimated) bytes, whichever is reached first. */
export const SINK_QUEUE_MAX_BYTES = 16 * 1024 * 1024;

export { estimateEventBytes } from '../events/event.js';

export interface SinkQueueInit<T> {
  /** Metric label (`json_log`, `syslog`, …). */
  name: string;
  metrics: Metrics;
  logger: Logger;
  /** Consumes one batch, in order. Errors are the consumer's to count; a throw is logged and the batch dropped. */
  process: (batch: T[]) => void | Promise<void>;
  /** Size estimate for the byte bound. */
  sizeOf: (item: T) => number;
  maxItems?: number;
  maxBytes?: number;
  /** Largest batch handed to `process`. Default 512. */
  maxBatch?: number;
}

/**
 * Bounded FIFO between capture and a sink. `offer` is O(1) and never blocks or throws; the
 * drain runs on a later macrotask (setImmediate), so the sink's work never sits inside the capture
 * callback. Overflow drops the new item and counts `sipwarden_sink_dropped_total{sink}`.
 */
export interface SinkQueue<T> {
  /** Enqueue; false when dropped (queue full or stopped). */
  offer(item: T): boolean;
  /** Items waiting (not counting a batch being processed). */
  readonly depth: number;
  /** Resolves when everything offered so far has been processed. */
  drain(): Promise<void>;
  /** Stops accepting, drains what is queued; idempotent. */
  stop(): Promise<void>;
}

/** Creates a bounded sink queue. */
export function createSinkQueue<T>(init: SinkQueueInit<T>): SinkQueue<T> {
  const maxItems = init.maxItems ?? SINK_QUEUE_MAX_EVENTS;
  const maxBytes = init.maxBytes ?? SINK_QUEUE_MAX_BYTES;
  const maxBatch = init.maxBatch ?? 512;
  const dropped = init.metrics.sinkDropped.labels({ sink: init.name });
  const depthGauge = init.metrics.sinkQueueDepth.labels({ sink: init.name });
  // Ring of items with a read index: shift() on a large array is O(n).
  let items: T[] = [];
  let sizes: number[] = [];
  let head = 0;
  let bytes = 0;
  let running = false;
  let scheduled = false;
  let stopped = false;
  let idleWaiters: Array<() => void> = [];
  let warnedFull = false;

  const depth = (): number => items.length - head;

  function schedule(): void {
    if (scheduled || running) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void run();
    });
  }

  async function run(): Promise<void> {
    if (running) return;
    running = true;
    try {
      while (depth() > 0) {
        const n = Math.min(maxBatch, depth());
        const batch = items.slice(head, head + n);
        for (let i = head; i < head + n; i++) bytes -= sizes[i]!;
        head += n;
        if (head > 4096 && head * 2 > items.length) {
          items = items.slice(head);
          sizes = sizes.slice(head);
          head = 0;
        }
        depthGauge.set(depth());
        try {
          await init.process(batch);
        } catch (err) {
          init.metrics.sinkErrors.labels({ sink: init.name }).inc();
          init.logger.error({ err, sink: init.name, lost: batch.length }, 'sink batch failed');
        }
      }
      if (depth() === 0) {
        items = [];
        sizes = [];
        head = 0;
        bytes = 0;
        warnedFull = false;
      }
    } finally {
      running = false;
      depthGauge.set(depth());
    }
    if (depth() > 0) schedule();
    else {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  }

  return {
    get depth() {
      return depth();
    },
    offer(item: T): boolean {
      if (stopped) {
        dropped.inc();
        return false;
      }
      let size: number;
      try {
        size = init.sizeOf(item);
      } catch {
        size = 512;
      }
      if (depth() >= maxItems || bytes + size > maxBytes) {
        dropped.inc();
        if (!warnedFull) {
          warnedFull = true;
          init.logger.warn({ sink: init.name, depth: depth(), bytes }, 'sink queue full; dropping events');
        }
        return false;
      }
      items.push(item);
      sizes.push(size);
      bytes += size;
      depthGauge.set(depth());
      schedule();
      return true;
    },
    drain(): Promise<void> {
      if (depth() === 0 && !running && !scheduled) return Promise.resolve();
      return new Promise((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
    },
    async stop(): Promise<void> {
      stopped = true;
      await this.drain();
    },
  };
}
