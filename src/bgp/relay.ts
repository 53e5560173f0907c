/**
 * `sipwarden bgp-feed --socket PATH`: ExaBGP's API process when the node runs the feed itself. It only carries
 * lines: ExaBGP's answers (our stdin) to the node's feed socket, the node's commands back to ExaBGP (our stdout).
 * Whole lines only, in both directions, so a connection that breaks mid-line never hands ExaBGP half a command.
 * While the node is unreachable it retries with backoff and forwards nothing: ExaBGP keeps the routes it holds
 * until the node, on the next connection, clears them and sends the full set again. It ends when ExaBGP closes
 * our stdin.
 */
import { createConnection, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** Cuts a text stream into whole lines: {@link push} returns the complete lines so far (with their `\n`). */
export class LineBuffer {
  private tail = '';

  /** Text of the whole lines completed by `chunk` ('' when none), keeping the unfinished rest. */
  push(chunk: string): string {
    const end = chunk.lastIndexOf('\n');
    if (end < 0) {
      this.tail += chunk;
      return '';
    }
    const out = this.tail + chunk.slice(0, end + 1);
    this.tail = chunk.slice(end + 1);
    return out;
  }

  /** Characters of the unfinished line. */
  get pending(): number {
    return this.tail.length;
  }

  /** Drops the unfinished line (its sender went away). */
  reset(): void {
    this.tail = '';
  }
}

/** Next retry delay: doubles from `min` up to `max`. */
export function nextBackoff(current: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, current * 2));
}

/** Options of {@link startRelay}. */
export interface RelayInit {
  /** The node's feed socket (`--bgp-feed-socket`). */
  path: string;
  /** ExaBGP's answers (our stdin) and its command pipe (our stdout). */
  input: Readable;
  output: Writable;
  log: (line: string) => void;
  /** First retry delay (250 ms), doubling up to `maxBackoffMs` (5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A running relay. */
export interface Relay {
  /** Resolves when ExaBGP closed our stdin (and the connection was closed). */
  readonly done: Promise<void>;
  /** Connections made so far. */
  readonly connections: number;
  stop(): void;
}

/** Starts relaying; see the module comment. */
export function startRelay(init: RelayInit): Relay {
  const min = init.minBackoffMs ?? 250;
  const max = init.maxBackoffMs ?? 5_000;
  const fromExabgp = new LineBuffer();
  const toExabgp = new LineBuffer();
  let sock: Socket | null = null;
  let connected = false;
  let ending = false;
  let delay = min;
  let retry: NodeJS.Timeout | null = null;
  let connections = 0;
  let lastError = '';
  let failures = 0;
  /** stdin paused until the socket drains. */
  let inputWaits = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const resumeInput = (): void => {
    if (!inputWaits) return;
    inputWaits = false;
    init.input.resume();
  };

  const connect = (): void => {
    retry = null;
    if (ending) return;
    const s = createConnection(init.path);
    sock = s;
    s.setEncoding('utf8');
    s.on('connect', () => {
      connected = true;
      connections++;
      delay = min;
      init.log(`sipwarden bgp-feed: connected to the node's feed at ${init.path}${failures ? ` after ${failures} failed attempts` : ''}`);
      failures = 0;
      lastError = '';
    });
    s.on('data', (chunk: string) => {
      const lines = toExabgp.push(chunk);
      if (lines === '') return;
      if (!init.output.write(lines)) {
        // ExaBGP reads slower than the node writes: stop reading the socket until stdout drains.
        s.pause();
        init.output.once('drain', () => s.resume());
      }
    });
    s.on('drain', resumeInput);
    s.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code ?? err.message;
      failures++;
      // One line per new cause (and per hundred repeats), not one per retry, in ExaBGP's log.
      if (why !== lastError || failures % 100 === 0) init.log(`sipwarden bgp-feed: the node's feed at ${init.path} is unavailable (${why}); ExaBGP keeps its routes, retrying`);
      lastError = why;
    });
    s.on('close', () => {
      if (sock === s) sock = null;
      const was = connected;
      connected = false;
      // Half a command from the node is dropped; the next connection starts a new feed with a full set.
      toExabgp.reset();
      resumeInput();
      if (ending) return;
      if (was) init.log(`sipwarden bgp-feed: connection to the node's feed at ${init.path} lost; ExaBGP keeps its routes, reconnecting`);
      retry = setTimeout(connect, was ? min : delay);
      delay = was ? min : nextBackoff(delay, min, max);
    });
  };

  init.input.setEncoding?.('utf8');
  init.input.on('data', (chunk: string | Buffer) => {
    const lines = fromExabgp.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    // Answers while no node is connected are dropped: the next connection is a new feed that sends everything
    // again and expects no answer to commands of the old one.
    if (lines === '' || sock === null || !connected) return;
    if (!sock.write(lines)) {
      inputWaits = true;
      init.input.pause();
    }
  });
  const finish = (): void => {
    if (ending) return;
    ending = true;
    if (retry) clearTimeout(retry);
    retry = null;
    const s = sock;
    if (s === null) {
      resolveDone();
      return;
    }
    s.once('close', () => resolveDone());
    s.end();
    // A node that does not close its side must not keep ExaBGP's restart waiting.
    setTimeout(() => s.destroy(), 1_000).unref();
  };
  init.input.once('end', finish);
  init.input.once('close', finish);
  init.output.on('error', (err: Error) => {
    init.log(`sipwarden bgp-feed: writing to ExaBGP failed (${err.message})`);
    finish();
  });
  connect();

  return {
    done,
    get connections() {
      return connections;
    },
    stop: finish,
  };
}
