/**
 * The feed's side of ExaBGP's API pipes. Commands go out on `output` (our stdout) with at most `maxInFlight`
 * unacknowledged at a time: ExaBGP answers every command with `done` or `error` (its `exabgp.api.ack`, on by
 * default), so the window keeps a full set of thousands of commands from piling up in ExaBGP's reader while
 * BGP updates are still going out, and a full pipe (`write()` false) pauses sending until `drain`. Lines from
 * ExaBGP (`input`, our stdin) are sorted into answers, neighbor state and the rest; anything unexpected is counted
 * and logged, never thrown.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Kinds of lines read from ExaBGP (the `kind` label of `sipwarden_bgp_exabgp_answers_total`). */
export type AnswerKind = 'done' | 'error' | 'shutdown' | 'neighbor_up' | 'neighbor_state' | 'unknown' | 'ack_timeout';

/** Options of {@link ExabgpPipe}. */
export interface ExabgpPipeInit {
  input: Readable;
  output: Writable;
  log: (line: string) => void;
  /** Each line read (and each acknowledgement that never came). */
  onAnswer?: (kind: AnswerKind) => void;
  /** `neighbor A up`: a BGP session (re)established. */
  onNeighborUp?: (peer: string) => void;
  /** Commands written and not yet answered (4). */
  maxInFlight?: number;
  /** With no answer for this long the window is opened: ExaBGP may run with acknowledgements off (10 s). */
  ackTimeoutMs?: number;
}

/** Lines logged for unexpected input before it is only counted (then every 1,000th). */
const LOG_FIRST = 10;

/** Writes ExaBGP commands under an acknowledgement window and reads ExaBGP's answers. */
export class ExabgpPipe {
  /** Resolves when ExaBGP closes our stdin. */
  readonly closed: Promise<void>;
  private readonly queue: string[] = [];
  private head = 0;
  /** Commands written and not answered yet, oldest first (ExaBGP answers in order). */
  private readonly inFlight: string[] = [];
  private blocked = false;
  private acking = true;
  private timer: NodeJS.Timeout | null = null;
  private unexpected = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly max: number;
  private readonly ackTimeoutMs: number;
  private readonly rl;
  private ended = false;

  constructor(private readonly init: ExabgpPipeInit) {
    this.max = Math.max(1, init.maxInFlight ?? 4);
    this.ackTimeoutMs = init.ackTimeoutMs ?? 10_000;
    this.rl = createInterface({ input: init.input, crlfDelay: Infinity });
    this.closed = new Promise<void>((resolve) => this.rl.on('close', () => {
      this.ended = true;
      this.stopTimer();
      resolve();
    }));
    this.rl.on('line', (raw) => this.read(raw));
    // A socket (the node's relay connection) that is reset ends with `error` and `close`, never `end`: readline
    // would re-throw the error and never close.
    this.rl.on('error', (err: Error) => init.log(`sipwarden bgp-feed: reading from ExaBGP failed (${err.message})`));
    init.input.once('close', () => this.rl.close());
    init.output.on('error', (err: Error) => init.log(`sipwarden bgp-feed: writing to ExaBGP failed (${err.message})`));
  }

  /** Commands waiting to be written. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Commands written and not yet answered. */
  get unanswered(): number {
    return this.inFlight.length;
  }

  /** Queues commands in order. */
  send(commands: readonly string[]): void {
    for (const c of commands) this.queue.push(c);
    this.pump();
  }

  /** Resolves once every queued command was written and answered (or the window was given up on). */
  idle(): Promise<void> {
    if (this.queued === 0 && this.inFlight.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops reading; queued commands are dropped. */
  close(): void {
    this.stopTimer();
    this.queue.length = 0;
    this.head = 0;
    this.rl.close();
  }

  private pump(): void {
    const out = this.init.output;
    while (!this.blocked && !this.ended && this.queued > 0 && (!this.acking || this.inFlight.length < this.max)) {
      const cmd = this.queue[this.head++]!;
      if (this.acking) this.inFlight.push(cmd);
      if (!out.write(cmd + '\n')) {
        this.blocked = true;
        out.once('drain', () => {
          this.blocked = false;
          this.pump();
        });
      }
    }
    // Compact the consumed head now and then rather than shift() per command.
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.inFlight.length > 0) this.startTimer();
    else this.stopTimer();
    if (this.queued === 0 && this.inFlight.length === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private startTimer(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.init.onAnswer?.('ack_timeout');
      this.init.log(`sipwarden bgp-feed: no answer from ExaBGP for ${this.ackTimeoutMs} ms to ${this.inFlight.length} commands; sending without waiting for acknowledgements (is exabgp.api.ack off?)`);
      this.acking = false;
      this.inFlight.length = 0;
      this.pump();
    }, this.ackTimeoutMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private answered(): void {
    // An answer while the window was given up on: acknowledgements are on after all (ExaBGP was just slow).
    if (!this.acking) this.acking = true;
    else this.inFlight.shift();
    this.stopTimer();
    this.pump();
  }

  private read(raw: string): void {
    const line = raw.trim();
    if (line === '') return;
    if (line === 'done') {
      this.init.onAnswer?.('done');
      this.answered();
    } else if (line === 'error') {
      const cmd = this.inFlight[0];
      this.init.onAnswer?.('error');
      this.init.log(`sipwarden bgp-feed: ExaBGP refused a command${cmd ? ` (${cut(cmd)})` : ''}`);
      this.answered();
    } else if (/^shutdown( \d+ \d+)?$/.test(line)) this.init.onAnswer?.('shutdown');
    else if (/^neighbor \S+ up$/.test(line)) {
      this.init.onAnswer?.('neighbor_up');
      this.init.onNeighborUp?.(line.split(' ')[1]!);
    } else if (/^neighbor \S+ (down|connected)\b/.test(line)) this.init.onAnswer?.('neighbor_state');
    else {
      this.init.onAnswer?.('unknown');
      this.unexpected++;
      if (this.unexpected <= LOG_FIRST || this.unexpected % 1000 === 0) {
        this.init.log(`sipwarden bgp-feed: ignoring an unexpected line from ExaBGP (${cut(line)}; ${this.unexpected} so far)`);
      }
    }
  }
}

/** A line shortened for the log, control characters shown as `?`. */
function cut(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 80 ? clean.slice(0, 80) + '…' : clean;
}
