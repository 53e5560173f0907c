import { chmodSync, closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
import { observerModule, type BatchObserver, type BatchObserverModule, type ObserverContext } from '../store/observers.js';
import { notStoredLine, type NotStoredSummary } from '../store/shed.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** Options of the JSON-log observer (structured-cloneable: it is built in the store's writer thread). */
export interface JsonLogOptions {
  /** File appended to (`-l`, else `<data-dir>/sipwarden_json.log`). Its directory is created when missing. */
  path: string;
  /**
   * Bytes of lines held while writes fail (disk full, unwritable file). Lines that would pass it are dropped and
   * counted. Default 32 MiB, the store's own backlog bound.
   */
  maxBacklogBytes?: number;
  /** While lines are held, a write is retried this often even if no new events arrive (ms). Default 1,000. */
  retryMs?: number;
}

/** Metric label of the JSON log's counters. */
export const JSON_LOG_SINK = 'json_log';
/** Mode of a file we create. */
const FILE_MODE = 0o640;
/** At most one stderr line per this many ms: a full disk must not turn into a log storm. */
const ERROR_LINE_INTERVAL_MS = 10_000;
/** Default backlog bound while writes fail (the store's backlog bound). */
export const DEFAULT_JSON_LOG_BACKLOG_BYTES = 32 * 1024 * 1024;
/** How far back from the end a torn last line is looked for (one of our lines is far shorter). */
const REPAIR_SCAN_BYTES = 8 * 1024 * 1024;
const NL = 0x0a;

/** Lines not yet written: whole lines only, each chunk ends with `\n`. */
interface Chunk {
  buf: Buffer;
  lines: number;
}

/** Number of `\n` in `buf[0, end)`. */
function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(NL); i >= 0 && i < end; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/**
 * JSON log: one compact §10 object + `\n` per event (local or peer), appended. Built by the store as a
 * batch observer (registered with {@link jsonLogObserver}), so it runs in the store's writer
 * thread and sees every accepted event once, in order, in the batches the store commits: formatting and writing
 * never sit on the capture thread. Each batch is one `write(2)` of whole lines (looped on a short write).
 *
 * The file never keeps a torn line. A write that fails part-way (ENOSPC after a short write) is cut back to the
 * last whole line it wrote, and every (re)open cuts a partial last line left by a crash or a failed cut. The
 * lines not written are held, in order, up to `maxBacklogBytes` (lines past it are dropped and counted), and
 * are written first as soon as a write succeeds again: at the next batch, or by a retry every `retryMs`.
 *
 * `reopen()` (SIGHUP) closes the file; the next write reopens the path, so logrotate's rename/create works. A
 * failed write counts `sipwarden_sink_errors_total{sink="json_log"}` and prints one stderr line per 10 s at most;
 * nothing else is affected.
 */
export function createJsonLogObserver(options: JsonLogOptions, context: ObserverContext): BatchObserver {
  const { path } = options;
  const maxBacklog = Math.max(1, options.maxBacklogBytes ?? DEFAULT_JSON_LOG_BACKLOG_BYTES);
  const retryMs = Math.max(10, options.retryMs ?? 1000);
  let fd: number | null = null;
  let lastErrorLine = 0;
  const backlog: Chunk[] = [];
  let backlogBytes = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  function report(err: unknown): void {
    context.count('errors', 1);
    const now = Date.now();
    if (now - lastErrorLine >= ERROR_LINE_INTERVAL_MS) {
      lastErrorLine = now;
      const msg = err instanceof Error ? err.message : String(err);
      const held = backlog.reduce((n, c) => n + c.lines, 0);
      process.stderr.write(`sipwarden: error: json log ${path}: ${msg}${held > 0 ? ` (${held} lines held, retried)` : ''}\n`);
    }
  }

  /**
   * Cuts a partial last line (no final `\n`) back to the previous whole line, so the next record starts a line
   * of its own. Only a file whose tail has no `\n` within {@link REPAIR_SCAN_BYTES} is not cut (it is not ours
   * line by line); a `\n` is appended instead.
   */
  function repairTail(h: number): void {
    const size = fstatSync(h).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    if (readSync(h, last, 0, 1, size - 1) === 1 && last[0] === NL) return;
    const block = Buffer.alloc(64 * 1024);
    let end = size;
    let cut = -1;
    while (end > 0 && size - end < REPAIR_SCAN_BYTES) {
      const start = Math.max(0, end - block.length);
      const n = readSync(h, block, 0, end - start, start);
      const i = block.subarray(0, n).lastIndexOf(NL);
      if (i >= 0) {
        cut = start + i + 1;
        break;
      }
      end = start;
    }
    if (cut < 0 && end === 0) cut = 0;
    if (cut >= 0) {
      ftruncateSync(h, cut);
      process.stderr.write(`sipwarden: warning: json log ${path}: removed a partial last line (${size - cut} bytes) left by an interrupted write\n`);
    } else {
      writeSync(h, '\n');
    }
  }

  function open(): number {
    const created = !existsSync(path);
    let h: number;
    try {
      // Read access too, for a regular file: a torn tail is looked for before the first write.
      if (!created && !statSync(path).isFile()) return openSync(path, 'a'); // a FIFO or device: append only
      h = openSync(path, 'a+', FILE_MODE);
    } catch (err) {
      // A file we may write but not read: append without the tail check.
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return openSync(path, 'a', FILE_MODE);
      throw err;
    }
    try {
      // Only fix the mode of a file we created (the umask may have narrowed it); an operator's file keeps its mode.
      if (created) {
        try {
          chmodSync(path, FILE_MODE);
        } catch {
          /* not fatal */
        }
      }
      repairTail(h);
    } catch (err) {
      closeSync(h);
      throw err;
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

  /**
   * After a failed write: keeps the held lines within the bound, oldest first; the newest lines past it are
   * dropped and counted. (A batch is always tried once whole, so a big batch on a healthy disk loses nothing.)
   */
  function trim(): void {
    if (backlogBytes <= maxBacklog) return;
    let room = maxBacklog;
    let i = 0;
    for (; i < backlog.length && backlog[i]!.buf.length <= room; i++) room -= backlog[i]!.buf.length;
    let dropped = 0;
    if (i < backlog.length) {
      const c = backlog[i]!;
      const keep = room > 0 ? c.buf.lastIndexOf(NL, room - 1) + 1 : 0;
      if (keep > 0) {
        const kept = countLines(c.buf, keep);
        dropped += c.lines - kept;
        c.buf = c.buf.subarray(0, keep);
        c.lines = kept;
        i++;
      }
      for (const d of backlog.splice(i)) dropped += d.lines;
    }
    backlogBytes = backlog.reduce((n, c) => n + c.buf.length, 0);
    if (dropped > 0) context.count('dropped', dropped);
  }

  /**
   * Writes the held lines in order. On a failure part-way through a chunk, the whole lines written stay, the torn
   * rest is cut off the file, and the remainder stays held. Returns true when nothing is held any more.
   */
  function flush(): boolean {
    while (backlog.length > 0) {
      const chunk = backlog[0]!;
      let off = 0;
      try {
        if (fd === null) fd = open();
        while (off < chunk.buf.length) {
          const n = writeSync(fd, chunk.buf, off, chunk.buf.length - off);
          if (n <= 0) throw new SipwardenError(ERROR_CODES.SINK_DELIVERY_FAILED, 'short write');
          off += n;
        }
      } catch (err) {
        const whole = off > 0 ? chunk.buf.lastIndexOf(NL, off - 1) + 1 : 0;
        const torn = off - whole;
        if (whole > 0) {
          const lines = countLines(chunk.buf, whole);
          context.count('delivered', lines);
          chunk.buf = chunk.buf.subarray(whole);
          chunk.lines -= lines;
          backlogBytes -= whole;
        }
        if (torn > 0 && fd !== null) {
          // Shrinking needs no space; if it fails anyway, the next open() cuts the partial line.
          try {
            ftruncateSync(fd, fstatSync(fd).size - torn);
          } catch {
            /* repaired at the next open */
          }
        }
        report(err);
        closeFile();
        return false;
      }
      backlog.shift();
      backlogBytes -= chunk.buf.length;
      context.count('delivered', chunk.lines);
    }
    return true;
  }

  function scheduleRetry(): void {
    if (closed || retryTimer !== undefined || backlog.length === 0) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (!flush()) scheduleRetry();
    }, retryMs);
    retryTimer.unref();
  }

  // Open now, so a bad path is reported once at start (and a torn tail is cut); a failure is not fatal.
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = open();
  } catch (err) {
    report(err);
  }

  return {
    observe(events: readonly HoneypotEvent[]) {
      if (events.length === 0) return;
      let text = '';
      for (const e of events) text += toJsonLogLine(e);
      const buf = Buffer.from(text, 'utf8');
      backlog.push({ buf, lines: events.length });
      backlogBytes += buf.length;
      if (!flush()) {
        trim();
        scheduleRetry();
      }
    },
    summary(sum: NotStoredSummary) {
      // One line per second while the store sheds rows: which sources' events have no row (see docs/SINKS.md).
      // It takes the same path as event lines (held while the disk is full, never torn) and counts as one line.
      const buf = Buffer.from(notStoredLine(sum), 'utf8');
      backlog.push({ buf, lines: 1 });
      backlogBytes += buf.length;
      if (!flush()) {
        trim();
        scheduleRetry();
      }
    },
    reopen() {
      closeFile();
    },
    close() {
      closed = true;
      if (retryTimer !== undefined) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      // A last attempt; what is still held now is lost.
      if (!flush()) {
        const lost = backlog.reduce((n, c) => n + c.lines, 0);
        if (lost > 0) context.count('dropped', lost);
        backlog.length = 0;
        backlogBytes = 0;
      }
      closeFile();
    },
  };
}

/** The store registration of the JSON log: `store.addBatchObserver(jsonLogObserver(path))`. */
export function jsonLogObserver(path: string, extra: Omit<JsonLogOptions, 'path'> = {}): BatchObserverModule<JsonLogOptions> {
  // This very module, as the writer thread must import it (.ts under tsx in tests and benches, .js when built).
  return observerModule(JSON_LOG_SINK, import.meta.url, createJsonLogObserver, { path, ...extra });
}
