/**
 * `GET /api/v1/blocklist/stream`: the block set's change stream as Server-Sent Events. A new reader gets a
 * snapshot (every entry) and then each change as it happens; a reader that comes back with `Last-Event-ID` (or
 * `?since=`) gets only the changes after it, or a fresh snapshot when the history no longer reaches back.
 * Token-protected like the rest of `/api/v1` (the server's global bearer check). A reader that does not keep up
 * is cut off once its unsent output passes a bound; it resumes with its last id.
 */
import type { FastifyInstance } from 'fastify';
import type { BlockChange, BlockEntry, BlockSet } from '../enforce/blockset.js';

/** Unsent bytes per reader before it is cut off. */
export const STREAM_MAX_BUFFER = 8 * 1024 * 1024;
/** Comment line sent this often so proxies keep the connection. */
const HEARTBEAT_MS = 15_000;

const entryJson = (e: BlockEntry): string =>
  JSON.stringify({ ip: e.ip, family: e.family, expires_at: new Date(e.expiresAtMs).toISOString(), last_hit: new Date(e.lastHitMs).toISOString() });

const changeEvent = (c: BlockChange): string => {
  const body: Record<string, unknown> = { seq: c.seq, op: c.op, ip: c.ip, family: c.family, expires_at: new Date(c.expiresAtMs).toISOString(), last_hit: new Date(c.lastHitMs).toISOString() };
  if (c.reason) body.reason = c.reason;
  return `event: ${c.op}\nid: ${c.seq}\ndata: ${JSON.stringify(body)}\n\n`;
};

/** Registers the stream route on `app`. */
export function registerBlockStreamRoute(app: FastifyInstance, blockSet: BlockSet, opts: { maxBuffer?: number } = {}): void {
  const maxBuffer = opts.maxBuffer ?? STREAM_MAX_BUFFER;
  app.get('/api/v1/blocklist/stream', {
    schema: {
      tags: ['blocklist'],
      summary: 'Block-set changes as Server-Sent Events: snapshot, then add/refresh/remove; resumable with Last-Event-ID',
      querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'string', pattern: '^[0-9]{1,20}$' } } },
    },
  }, (req, reply) => {
    const header = req.headers['last-event-id'];
    const raw = typeof header === 'string' && /^[0-9]{1,20}$/.test(header.trim()) ? header.trim() : (req.query as { since?: string }).since;
    const cursor = raw === undefined ? null : Number(raw);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(beat);
      res.end();
    };
    const write = (s: string): void => {
      if (closed) return;
      res.write(s);
      if (res.writableLength > maxBuffer) close(); // too slow: cut off; it resumes with its last id
    };
    // Subscribe first and hold live changes until the backlog is out, so none falls between the two.
    let held: BlockChange[] | null = [];
    const unsubscribe = blockSet.subscribe((changes) => {
      if (held !== null) { held.push(...changes); return; }
      for (const c of changes) write(changeEvent(c));
    });
    const beat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
    beat.unref();
    res.on('close', close);

    let from: number;
    const backlog = cursor === null ? null : blockSet.changesSince(cursor);
    if (backlog !== null && cursor !== null) {
      for (const c of backlog) write(changeEvent(c));
      from = backlog.length > 0 ? backlog[backlog.length - 1]!.seq : cursor;
    } else {
      const snap = blockSet.snapshot();
      write(`event: snapshot\ndata: ${JSON.stringify({ seq: snap.seq, count: snap.entries.length })}\n\n`);
      // Entries in chunks, so one write never holds the whole set twice.
      let chunk = '';
      for (const e of snap.entries) {
        chunk += `event: entry\ndata: ${entryJson(e)}\n\n`;
        if (chunk.length > 65_536) { write(chunk); chunk = ''; }
      }
      // The id comes after the last entry: a reader cut off mid-snapshot has no id yet and gets a new snapshot.
      write(`${chunk}event: snapshot-end\nid: ${snap.seq}\ndata: {"seq":${snap.seq}}\n\n`);
      from = snap.seq;
    }
    const pending = held;
    held = null;
    for (const c of pending) if (c.seq > from) write(changeEvent(c));
  });
}
