import { chmodSync, closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
import type { BatchObserver, BatchObserverSpec, ObserverContext } from '../store/observers.js';
import { notStoredLine, type NotStoredSummary } from '../store/shed.js';

/** Options of the JSON-log observer (structured-cloneable: it is built in the store's writer thread). */
export interface JsonLogOptions {
  /** File appended to (`-l`, else `<data-dir>/sipwarden_json.log`). Its directory is created when missing. */
  path: string;
}

/** Metric label of the JSON log's counters. */
export const JSON_LOG_SINK = 'json_log';
/** Mode of a file we create (SPEC §10). */
const FILE_MODE = 0o640;
/** At most one stderr line per this many ms: a full disk must not turn into a log storm. */
const ERROR_LINE_INTERVAL_MS = 10_000;

/**
 * JSON log (SPEC §10): one compact §10 object + `\n` per event (local or peer), appended. Built by the store as a
 * batch observer ({@link import('../store/observers.js').BatchObserverSpec}), so it runs in the store's writer
 * thread and sees every accepted event once, in order, in the batches the store commits: formatting and writing
 * never sit on the capture thread. Each batch is one `write(2)` of whole lines (looped on a short write).
 * `reopen()` (SIGHUP) closes the file; the next batch reopens the path, so logrotate's rename/create works. A failed
 * write counts `sipwarden_sink_errors_total{sink="json_log"}` and the lost lines in `…_dropped_total`, prints
 * one stderr line per 10 s at most, and the file is reopened for the next batch; nothing else is affected.
 */
export function createJsonLogObserver(options: JsonLogOptions, context: ObserverContext): BatchObserver {
  const { path } = options;
  let fd: number | null = null;
  let lastErrorLine = 0;

  function report(err: unknown, lost: number): void {
    context.count('errors', 1);
    if (lost > 0) context.count('dropped', lost);
    const now = Date.now();
    if (now - lastErrorLine >= ERROR_LINE_INTERVAL_MS) {
      lastErrorLine = now;
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`sipwarden: error: json log ${path}: ${msg}\n`);
    }
  }

  function open(): number {
    const created = !existsSync(path);
    const h = openSync(path, 'a', FILE_MODE);
    // Only fix the mode of a file we created (the umask may have narrowed it); an operator's file keeps its mode.
    if (created) {
      try {
        chmodSync(path, FILE_MODE);
      } catch {
        /* not fatal */
      }
    }
    return h;
  }

  function closeFile(): void {
    const h = fd;
    fd = null;
    if (h !== null) {
      try {
        closeSync(h);
      } catch {
        /* already gone */
      }
    }
  }

  // Open now, so a bad path is reported once at start; a failure is not fatal (retried per batch).
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = open();
  } catch (err) {
    report(err, 0);
  }

  return {
    observe(events: readonly HoneypotEvent[]) {
      let text = '';
      for (const e of events) text += toJsonLogLine(e);
      const buf = Buffer.from(text, 'utf8');
      try {
        if (fd === null) fd = open();
        let off = 0;
        while (off < buf.length) {
          const n = writeSync(fd, buf, off, buf.length - off);
          if (n <= 0) throw new Error('short write');
          off += n;
        }
        context.count('delivered', events.length);
      } catch (err) {
        report(err, events.length);
        closeFile();
      }
    },
    summary(sum: NotStoredSummary) {
      // One line per second while the store sheds rows: which sources' events have no row (see docs/SINKS.md).
      const buf = Buffer.from(notStoredLine(sum), 'utf8');
      try {
        if (fd === null) fd = open();
        let off = 0;
        while (off < buf.length) {
          const n = writeSync(fd, buf, off, buf.length - off);
          if (n <= 0) throw new Error('short write');
          off += n;
        }
      } catch (err) {
        report(err, 0);
        closeFile();
      }
    },
    reopen() {
      closeFile();
    },
    close() {
      closeFile();
    },
  };
}

/** The store registration of the JSON log: `store.addBatchObserverModule(jsonLogObserverSpec(path))`. */
export function jsonLogObserverSpec(path: string): BatchObserverSpec {
  const options: JsonLogOptions = { path };
  // This very module, as the writer thread must import it (.ts under tsx in tests and benches, .js when built).
  return { sink: JSON_LOG_SINK, module: import.meta.url, exportName: 'createJsonLogObserver', options };
}
