import type { HoneypotEvent } from '../events/event.js';
import type { NotStoredSummary } from './shed.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

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
  /**
   * Once a second while the store sheds rows: how many events of which sources have no row. The events themselves
   * were shown to `observe` as far as the store's hold-back buffer allowed (`events_not_logged` says how many not).
   */
  summary?(s: NotStoredSummary): void;
  /** SIGHUP: reopen files. */
  reopen?(): void;
  /** Store stop, after the last batch was observed. */
  close?(): void;
}

/** Builds a batch observer in the writer's thread from structured-cloneable options. */
export type ObserverFactory<O> = (options: O, context: ObserverContext) => BatchObserver;

/**
 * The typed registration of a batch observer: which module exports its factory (a file URL, loaded in the writer's
 * thread — the store imports no consumer module itself), the factory's export name, the options the factory
 * takes and the metric label (`sink`) of its counters. Build it with {@link observerModule} next to the factory,
 * so the compiler checks the options against the factory's own parameter type.
 */
export interface BatchObserverModule<O = unknown> {
  readonly sink: string;
  readonly module: string;
  readonly exportName: string;
  /** Structured-cloneable (they cross to the writer thread). */
  readonly options: O;
}

/**
 * Registration of `factory`, an exported function declaration of the module at `moduleUrl` (its own
 * `import.meta.url`): the export name is the function's own name, the options are typed by its first parameter.
 */
export function observerModule<O>(sink: string, moduleUrl: string, factory: ObserverFactory<O>, options: O): BatchObserverModule<O> {
  if (!factory.name) throw new SipwardenError(ERROR_CODES.INTERNAL, 'observerModule: the factory must be a named, exported function');
  return { sink, module: moduleUrl, exportName: factory.name, options };
}

/** Imports a {@link BatchObserverModule} and builds its observer. */
export async function loadObserverModule(reg: BatchObserverModule, context: ObserverContext): Promise<BatchObserver> {
  const mod = (await import(reg.module)) as Record<string, unknown>;
  const factory = mod[reg.exportName];
  if (typeof factory !== 'function') throw new SipwardenError(ERROR_CODES.INTERNAL, `batch observer module ${reg.module} has no function export ${reg.exportName}`);
  return (factory as ObserverFactory<unknown>)(reg.options, context);
}

/** The observers of one store writer, built in the writer's thread. */
export class ObserverSet {
  private constructor(private readonly list: readonly { observer: BatchObserver; context: ObserverContext }[]) {}

  /** Builds every observer of `specs`; their counters go to `count` with the spec's sink label. */
  static async load(specs: readonly BatchObserverModule[], count: (sink: string, kind: ObserverCount, n: number) => void): Promise<ObserverSet> {
    const list: { observer: BatchObserver; context: ObserverContext }[] = [];
    for (const spec of specs) {
      const context: ObserverContext = { count: (kind, n) => count(spec.sink, kind, n) };
      list.push({ context, observer: await loadObserverModule(spec, context) });
    }
    return new ObserverSet(list);
  }

  /** Shows a batch to every observer; one that throws has the batch counted as its errors and drops. */
  observe(events: readonly HoneypotEvent[]): void {
    if (events.length === 0) return;
    for (const o of this.list) {
      try {
        o.observer.observe(events);
      } catch {
        o.context.count('errors', 1);
        o.context.count('dropped', events.length);
      }
    }
  }

  /** Shows a not-stored summary to the observers that take one; a throw counts as one error. */
  summary(s: NotStoredSummary): void {
    for (const o of this.list) {
      try {
        o.observer.summary?.(s);
      } catch {
        o.context.count('errors', 1);
      }
    }
  }

  reopen(): void {
    for (const o of this.list) o.observer.reopen?.();
  }

  close(): void {
    for (const o of this.list) o.observer.close?.();
  }
}
