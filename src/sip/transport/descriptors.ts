import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';

/**
 * The process's soft limit on open file descriptors (Node raises it to the hard limit at start-up), read from
 * `/proc/self/limits`; null where that file does not exist or says "unlimited".
 */
export function descriptorLimit(): number | null {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Descriptors kept free for everything that is not a SIP connection: the store and its WAL, the JSON log, the
 * syslog socket, UDP sockets, listeners, worker threads and API clients. A daemon with every part on uses ~35.
 */
export function descriptorReserve(limit: number): number {
  return Math.max(64, Math.floor(limit / 8));
}

/**
 * How many TCP/TLS SIP connections may be open at once so that they can never take the last descriptors:
 * the descriptor limit minus {@link descriptorReserve}, at least 16; Infinity when the limit is unknown.
 */
export function connectionBudget(limit: number | null): number {
  if (limit === null) return Infinity;
  return Math.max(16, limit - descriptorReserve(limit));
}

/** True for the errors that mean "no descriptor left" (per process or system-wide). */
export function isDescriptorExhaustion(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** How often the watch checks that a descriptor can still be opened. */
const PROBE_MS = 1_000;
/** At most one log line per this interval, however long an exhaustion lasts. */
const LOG_EVERY_MS = 60_000;

/**
 * Notices descriptor exhaustion, which libuv otherwise hides: when `accept()` fails with EMFILE it silently
 * accepts and closes the pending connections (its reserved-descriptor trick), so no listener reports anything.
 * Every second the watch opens and closes `/dev/null`; a failure, or an EMFILE/ENFILE error reported by a
 * listener, counts one `sipwarden_descriptor_exhaustion_total` and logs at most one line a minute (with the
 * number of occurrences since the last line). Nothing is stopped: listeners keep listening and accept again as
 * soon as descriptors are free.
 */
export class DescriptorWatch {
  private timer: NodeJS.Timeout | null = null;
  private lastLog = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => this.probe(), PROBE_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check now; true when a descriptor could be opened. */
  probe(): boolean {
    try {
      closeSync(openSync('/dev/null', 'r'));
      return true;
    } catch (err) {
      if (isDescriptorExhaustion(err)) this.report(err, 'probe');
      return false;
    }
  }

  /** Records one exhaustion seen by `where` (a listener's error, the probe). */
  report(err: unknown, where: string): void {
    this.metrics.descriptorExhaustion.inc();
    this.unlogged++;
    const t = this.now();
    if (t - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = t;
    const code = (err as NodeJS.ErrnoException | null)?.code ?? 'EMFILE';
    this.logger.error(
      { code, where, occurrences: this.unlogged },
      'out of file descriptors: new connections are refused until some close (raise the limit with ulimit -n / LimitNOFILE)',
    );
    this.unlogged = 0;
  }
}
