import type { HoneypotEvent } from '../events/event.js';

/** What an observer reports back, per sink label: `sipwarden_sink_{delivered,dropped,errors}_total{sink}`. */
export type ObserverCount = 'delivered' | 'dropped' | 'errors';

/** Handed to an observer factory: counters travel back to the main thread's metrics registry. */
export interface ObserverContext {
  count(kind: ObserverCount, n: number): void;
}

/**
 * Sees every event the store accepts, once, in order, in whichever thread runs the store writer (the writer thread
 * by default), before the batch transaction. The JSON log is one: formatting and writing ~1.5 KB per event there
 * keeps that work off the capture thread, and the batch already crossed to that thread for the store.
 * `observe` must not throw (a throw is counted as errors for the whole batch).
 */
export interface BatchObserver {
  observe(events: readonly HoneypotEvent[]): void;
  /** SIGHUP: reopen files. */
  reopen?(): void;
  /** Store stop, after the last batch was observed. */
  close?(): void;
}

/**
 * An observer given as a module, so the store can build it in its writer thread: `module` (file URL) exports
 * `exportName` as `(options, context) => BatchObserver`. `sink` is the metric label of its counters.
 */
export interface BatchObserverSpec {
  sink: string;
  module: string;
  exportName: string;
  /** Structured-cloneable. */
  options?: unknown;
}

/** Imports a {@link BatchObserverSpec} and builds its observer. */
export async function loadObserverModule(spec: BatchObserverSpec, context: ObserverContext): Promise<BatchObserver> {
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.exportName];
  if (typeof factory !== 'function') throw new Error(`batch observer module ${spec.module} has no function export ${spec.exportName}`);
  return (factory as (o: unknown, c: ObserverContext) => BatchObserver)(spec.options, context);
}

/** Runs every observer on a batch; an observer that throws has the batch counted as its errors and drops. */
export function observeAll(observers: readonly { spec: BatchObserverSpec; observer: BatchObserver; context: ObserverContext }[], events: readonly HoneypotEvent[]): void {
  if (events.length === 0) return;
  for (const o of observers) {
    try {
      o.observer.observe(events);
    } catch {
      o.context.count('errors', 1);
      o.context.count('dropped', events.length);
    }
  }
}
