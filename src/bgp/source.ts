/**
 * Where the BGP feed learns the block set: one interface, two implementations. In the node the feed reads the
 * block set itself (the same in-process change stream the firewall enforcer and the API's stream route
 * subscribe to); as a process of its own it follows `/api/v1/blocklist/stream`. Either way the feed sees a
 * snapshot first, then the changes in order.
 */
import type { BlockSet } from '../enforce/blockset.js';
import { createStreamClient } from './stream-client.js';

/** An address of the block set as the feed needs it. */
export interface SourceEntry {
  ip: string;
  lastHitMs: number;
}

/** One change of the block set. */
export interface SourceChange extends SourceEntry {
  op: 'add' | 'refresh' | 'remove';
}

/** What a source reports to the feed. */
export interface SourceHandlers {
  /** The set is exactly these entries (the first one, and again after the source lost track). */
  snapshot(entries: Iterable<SourceEntry>): void;
  /** Changes after the last snapshot, in order. */
  changes(changes: readonly SourceChange[]): void;
  /** Whether the source is connected; `error` says why not. */
  state(connected: boolean, error?: string): void;
}

/** A change source; `start` begins reporting to `handlers`, `stop` ends it. */
export interface ChangeSource {
  /** For log lines: where the changes come from. */
  readonly name: string;
  start(handlers: SourceHandlers): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The node's own block set. The snapshot and the subscription are taken in the same synchronous step, so no
 * change falls between them (the set publishes only from the event loop).
 */
export function blockSetSource(blockSet: BlockSet): ChangeSource {
  let unsubscribe: (() => void) | null = null;
  return {
    name: 'the node\'s block set',
    async start(h) {
      if (unsubscribe) return;
      unsubscribe = blockSet.subscribe((changes) => h.changes(changes));
      h.state(true);
      h.snapshot(blockSet.live ? blockSet.live() : blockSet.snapshot().entries);
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
    },
  };
}

/** `/api/v1/blocklist/stream` of a node at `url` (resumes with `Last-Event-ID`, retries with backoff). */
export function apiStreamSource(init: { url: string; token: string | null; minBackoffMs?: number; maxBackoffMs?: number }): ChangeSource {
  let client: ReturnType<typeof createStreamClient> | null = null;
  return {
    name: `${init.url}/api/v1/blocklist/stream`,
    async start(h) {
      if (client) return;
      client = createStreamClient({
        url: init.url,
        token: init.token,
        minBackoffMs: init.minBackoffMs,
        maxBackoffMs: init.maxBackoffMs,
        handlers: {
          snapshot: (entries) => h.snapshot(entries.map((e) => ({ ip: e.ip, lastHitMs: e.last_hit_ms }))),
          changes: (changes) => h.changes(changes.map((c) => ({ op: c.op, ip: c.ip, lastHitMs: c.last_hit_ms }))),
          state: (connected, error) => h.state(connected, error),
        },
      });
      await client.start();
    },
    async stop() {
      await client?.stop();
      client = null;
    },
  };
}
