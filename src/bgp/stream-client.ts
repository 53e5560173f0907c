/**
 * Client of `GET /api/v1/blocklist/stream` (Server-Sent Events): keeps one connection, resumes with
 * `Last-Event-ID` after a drop, and retries with exponential backoff while the API is unreachable.
 */
import { SseDecoder } from '../client/sse.js';
import type { Startable } from '../lifecycle.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** One entry as the stream sends it. */
export interface StreamEntry {
  ip: string;
  family: 4 | 6;
  expires_at_ms: number;
  last_hit_ms: number;
}
/** One change as the stream sends it. */
export interface StreamChange extends StreamEntry {
  seq: number;
  op: 'add' | 'refresh' | 'remove';
  reason?: string;
}

/** An entry as the node writes it (times as RFC 3339). */
interface WireEntry {
  ip: string;
  family: 4 | 6;
  expires_at: string;
  last_hit: string;
}
const toEntry = (w: WireEntry): StreamEntry => ({ ip: w.ip, family: w.family, expires_at_ms: Date.parse(w.expires_at), last_hit_ms: Date.parse(w.last_hit) });

/** What the client reports. */
export interface StreamHandlers {
  /** A complete snapshot: the set is exactly these entries at `seq`. */
  snapshot(entries: StreamEntry[], seq: number): void;
  /** Changes in order (after a snapshot, or after a resume). */
  changes(changes: StreamChange[]): void;
  /** The connection state changed; `error` names why it dropped or could not be opened. */
  state(connected: boolean, error?: string): void;
}

/** Options of {@link createStreamClient}. */
export interface StreamClientInit {
  /** Base URL of the API, e.g. `http://127.0.0.1:8082`. */
  url: string;
  token: string | null;
  handlers: StreamHandlers;
  /** First retry delay (1 s), doubling up to `maxBackoffMs` (10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Starts reading the stream at `start()`; `stop()` aborts it. */
export function createStreamClient(init: StreamClientInit): Startable & { readonly lastSeq: number | null } {
  const minBackoff = init.minBackoffMs ?? 1_000;
  const maxBackoff = init.maxBackoffMs ?? 10_000;
  let lastSeq: number | null = null;
  let abort: AbortController | null = null;
  let running = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  async function readOnce(signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'user-agent': 'sipwarden-bgp-feed' };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (lastSeq !== null) headers['last-event-id'] = String(lastSeq);
    const res = await fetch(new URL('/api/v1/blocklist/stream', init.url), { headers, signal });
    if (res.status !== 200 || !res.body) {
      const body = await res.text().catch(() => '');
      // A position the server cannot read: start over from a snapshot rather than retry it forever.
      if (res.status === 400) lastSeq = null;
      throw new SipwardenError(ERROR_CODES.API_REQUEST_FAILED, `HTTP ${res.status} ${body.slice(0, 200)}`);
    }
    init.handlers.state(true);
    const text = new TextDecoder();
    const sse = new SseDecoder();
    let snapshot: StreamEntry[] = [];
    let pending: StreamChange[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const { event, id, data } of sse.push(text.decode(chunk, { stream: true }))) {
        if (event === 'snapshot') {
          // A snapshot: `entry` events follow, then `snapshot-end` with its position as id.
          snapshot = [];
          pending = [];
        } else if (event === 'entry') {
          snapshot.push(toEntry(JSON.parse(data) as WireEntry));
        } else if (event === 'snapshot-end') {
          lastSeq = Number(id ?? (JSON.parse(data) as { seq: number }).seq);
          init.handlers.snapshot(snapshot, lastSeq);
          snapshot = [];
        } else if (event === 'add' || event === 'refresh' || event === 'remove') {
          const w = JSON.parse(data) as WireEntry & { seq: number; op: StreamChange['op']; reason?: string };
          pending.push({ ...toEntry(w), seq: w.seq, op: w.op, ...(w.reason ? { reason: w.reason } : {}) });
          if (id !== null) lastSeq = Number(id);
        }
      }
      if (pending.length) {
        init.handlers.changes(pending);
        pending = [];
      }
    }
    throw new SipwardenError(ERROR_CODES.API_UNREACHABLE, 'stream ended');
  }

  return {
    get lastSeq() {
      return lastSeq;
    },
    async start() {
      if (running) return;
      running = true;
      loop = (async () => {
        let delay = minBackoff;
        while (running) {
          abort = new AbortController();
          const t0 = Date.now();
          try {
            await readOnce(abort.signal);
          } catch (err) {
            if (!running) break;
            init.handlers.state(false, err instanceof Error ? err.message : String(err));
          }
          // A connection that lasted resets the backoff; repeated failures back off up to the cap.
          delay = Date.now() - t0 > maxBackoff ? minBackoff : delay;
          await new Promise<void>((r) => {
            const t = setTimeout(r, delay);
            wake = () => {
              clearTimeout(t);
              r();
            };
          });
          wake = null;
          delay = Math.min(maxBackoff, delay * 2);
        }
      })();
    },
    async stop() {
      running = false;
      abort?.abort();
      wake?.();
      await loop;
    },
  };
}
