import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createSinkQueue, estimateEventBytes } from './queue.js';
import type { Sink } from './types.js';

/** Inputs of the JSON-log sink. */
export interface JsonLogSinkInit {
  /** File appended to (`-l`, else `<data-dir>/sipwarden_json.log`). Its directory must exist. */
  path: string;
  metrics: Metrics;
  logger: Logger;
}

const SINK = 'json_log';
/** Mode of a file we create (SPEC §10). */
const FILE_MODE = 0o640;

/**
 * JSON log (SPEC §10): one compact §10 object + `\n` per event (local or peer), appended. Events are queued
 * (bounded, SPEC §5.6) and written in batches off the capture path; every line is whole inside one write.
 * `reopen()` (SIGHUP) closes and reopens the path so logrotate's rename/create works. A failed write is logged,
 * counted (`sipwarden_sink_errors_total{sink="json_log"}`, and the lost events in `…_dropped_total`) and the
 * file is reopened on the next batch; other sinks are unaffected.
 */
export function createJsonLogSink(init: JsonLogSinkInit): Sink {
  const { path, metrics } = init;
  const logger = init.logger.child({ sink: SINK });
  const errors = metrics.sinkErrors.labels({ sink: SINK });
  const delivered = metrics.sinkDelivered.labels({ sink: SINK });
  const dropped = metrics.sinkDropped.labels({ sink: SINK });
  let fh: FileHandle | null = null;
  let reopenRequested = false;
  let lastErrorLogged = 0;

  async function open(): Promise<FileHandle> {
    let created = false;
    try {
      await fsp.access(path, constants.F_OK);
    } catch {
      created = true;
    }
    const h = await fsp.open(path, 'a', FILE_MODE);
    // The umask may have narrowed (or a pre-existing file widened) nothing we rely on; only fix modes we created.
    if (created) await h.chmod(FILE_MODE).catch(() => undefined);
    return h;
  }

  async function closeHandle(): Promise<void> {
    const h = fh;
    fh = null;
    if (h) await h.close().catch(() => undefined);
  }

  function reportError(err: unknown, lost: number): void {
    errors.inc();
    dropped.inc(lost);
    const now = Date.now();
    // One stderr line per 10 s at most: a full disk must not turn into a log storm.
    if (now - lastErrorLogged > 10_000) {
      lastErrorLogged = now;
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`sipwarden: error: json log ${path}: ${msg}\n`);
      logger.error(
        { err: new SipwardenError(ERROR_CODES.SINK_DELIVERY_FAILED, `json log write failed: ${msg}`, 1, { cause: err }), lost },
        'json log write failed',
      );
    }
  }

  async function writeBatch(batch: HoneypotEvent[]): Promise<void> {
    let text = '';
    for (const e of batch) text += toJsonLogLine(e);
    const buf = Buffer.from(text, 'utf8');
    try {
      if (reopenRequested) {
        reopenRequested = false;
        await closeHandle();
      }
      if (!fh) fh = await open();
      let off = 0;
      // O_APPEND writes of a regular file are whole in practice; loop anyway so a short write never splits a line
      // across a concurrent writer's data silently.
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        if (bytesWritten <= 0) throw new Error('short write');
        off += bytesWritten;
      }
      delivered.inc(batch.length);
    } catch (err) {
      reportError(err, batch.length);
      await closeHandle();
    }
  }

  const queue = createSinkQueue<HoneypotEvent>({
    name: SINK,
    metrics,
    logger,
    sizeOf: estimateEventBytes,
    process: writeBatch,
  });
  let started = false;

  return {
    name: SINK,
    async start() {
      if (started) return;
      started = true;
      // Open at start so a bad path is reported once up front; a failure is not fatal (retried per batch).
      try {
        await fsp.mkdir(dirname(path), { recursive: true });
        fh = await open();
      } catch (err) {
        reportError(err, 0);
      }
    },
    offer(event: HoneypotEvent) {
      queue.offer(event);
    },
    reopen() {
      reopenRequested = true;
    },
    async stop() {
      await queue.stop();
      await closeHandle();
    },
  };
}
