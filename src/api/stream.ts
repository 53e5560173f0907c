/**
 * `GET /api/v1/blocklist/stream`: the block set as Server-Sent Events, for the BGP feed, dashboards and scripts.
 * A new reader gets a snapshot (in chunks of 1,000 entries), then every change as it happens. Each change carries
 * the block set's sequence number as its SSE id, so a reader that reconnects with `Last-Event-ID` (or `?after=`)
 * gets exactly the changes it missed, or a fresh snapshot when the server no longer holds them.
 * A reader that does not keep up is cut off once its unsent bytes pass a bound: it must reconnect and resume.
 */
import type { FastifyInstance } from 'fastify';
import type { BlockChange, BlockEntry, BlockSet } from '../enforce/blockset.js';
import type { Metrics } from '../metrics.js';
import { ApiError } from './protocol.js';

/** Unsent bytes after which a slow reader is disconnected. */
export const STREAM_MAX_BUFFERED = 8 * 1024 * 1024;
/** Comment line sent when nothing else was, so proxies and readers see the connection alive. */
const HEARTBEAT_MS = 15_000;
const SNAPSHOT_CHUNK = 1_000;

/** The wire form of an entry and of a change (times as ms since the epoch). */
function entryJson(e: BlockEntry): Record<string, unknown> {
  return { ip: e.ip, family: e.family, expires_at_ms: e.expiresAtMs, last_hit_ms: e.lastHitMs };
}
function changeJson(c: BlockChange): string {
  return JSON.stringify({ seq: c.seq, op: c.op, ip: c.ip, family: c.family, expires_at_ms: c.expiresAtMs, last_hit_ms: c.lastHitMs, ...(c.reason ? { reason: c.reason } : {}) });
}

/** Parses a resume position: a non-negative integer, else 400. */
function resumeSeq(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null;
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new ApiError(400, 'invalid Last-Event-ID/after: expected a sequence number');
  return n;
}

/** Registers the stream route; `blockSet` is null when the node runs none (then 503). */
export function registerBlocklistStream(app: FastifyInstance, ctx: { blockSet: () => BlockSet | null; metrics: Metrics; maxBuffered?: number }): void {
  const maxBuffered = ctx.maxBuffered ?? STREAM_MAX_BUFFERED;
  app.get('/api/v1/blocklist/stream', {
    schema: {
      tags: ['blocklists'],
      summary: 'Block-set changes as Server-Sent Events: a snapshot, then add/refresh/remove with resumable ids',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { after: { type: 'string', description: 'resume after this sequence number (same as the Last-Event-ID header)' } },
      },
      response: { 200: { type: 'string', description: 'text/event-stream' } },
    },
  }, async (req, reply) => {
    const set = ctx.blockSet();
    if (set === null) throw new ApiError(503, 'no block set is running on this node');
    const header = req.headers['last-event-id'];
    const after = resumeSeq(typeof header === 'string' ? header : (req.query as { after?: string }).after);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    ctx.metrics.blocklistStreamReaders.inc();
    let closed = false;
    let unsubscribe: (() => void) | null = null;
    let heartbeat: NodeJS.Timeout | undefined;
    const close = (cutOff: boolean): void => {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      clearInterval(heartbeat);
      ctx.metrics.blocklistStreamReaders.dec();
      if (cutOff) {
        ctx.metrics.blocklistStreamCutoffs.inc();
        res.destroy();
      } else res.end();
    };
    res.on('close', () => close(false));
    const write = (text: string): void => {
      if (closed) return;
      res.write(text);
      if (res.writableLength > maxBuffered) close(true);
    };
    const sendChanges = (changes: readonly BlockChange[]): void => {
      let out = '';
      for (const c of changes) out += `id: ${c.seq}\nevent: change\ndata: ${changeJson(c)}\n\n`;
      if (out) write(out);
    };
    const sendSnapshot = (): void => {
      const snap = set.snapshot();
      const n = snap.entries.length;
      for (let i = 0; i === 0 || i < n; i += SNAPSHOT_CHUNK) {
        const last = i + SNAPSHOT_CHUNK >= n;
        const data = JSON.stringify({ seq: snap.seq, more: !last, entries: snap.entries.slice(i, i + SNAPSHOT_CHUNK).map(entryJson) });
        write(`${last ? `id: ${snap.seq}\n` : ''}event: snapshot\ndata: ${data}\n\n`);
        if (closed) return;
      }
    };
    // Subscribe first, then read the position, so no change can fall between the two (both run synchronously).
    unsubscribe = set.subscribe((changes) => sendChanges(changes));
    const missed = after === null ? null : after === set.seq ? [] : set.changesSince(after);
    if (missed === null) sendSnapshot();
    else sendChanges(missed);
    heartbeat = setInterval(() => write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
  });
}
