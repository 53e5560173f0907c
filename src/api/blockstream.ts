/**
 * `GET /api/v1/blocklist/stream`: the block set's change stream as Server-Sent Events. A new reader gets a
 * snapshot (every entry) and then each change as it happens; a reader that comes back with `Last-Event-ID` (or
 * `?since=`) gets only the changes after it, or a fresh snapshot when the history no longer reaches back.
 * Token-protected like the rest of `/api/v1` (the server's global bearer check). The snapshot (or backlog) is
 * written as fast as the reader takes it; after that, a reader that does not keep up is cut off once its unsent
 * output passes a bound, and resumes with its last id.
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
    /** True while the snapshot or backlog goes out: it is paced by `drain`, so the buffer bound does not apply. */
    let catchingUp = true;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(beat);
      res.end();
      const w = drainWaiter;
      drainWaiter = null;
      w?.();
    };
    /** Writes; false when the socket is full. Live output past the bound cuts the reader off (it resumes). */
    const write = (s: string): boolean => {
      if (closed) return false;
      const ok = res.write(s);
      if (!catchingUp && res.writableLength > maxBuffer) close();
      return ok;
    };
    let drainWaiter: (() => void) | null = null;
    const drained = (): Promise<void> => new Promise((resolve) => {
      drainWaiter = resolve;
      res.once('drain', () => {
        if (drainWaiter === resolve) drainWaiter = null;
        resolve();
      });
    });
    // Subscribe first and hold live changes until the backlog is out, so none falls between the two. What is held
    // is bounded too: a reader taking the snapshot slower than the set changes is cut off like any slow reader.
    let held: BlockChange[] | null = [];
    const maxHeld = Math.max(1_000, Math.floor(maxBuffer / 128));
    const unsubscribe = blockSet.subscribe((changes) => {
      if (held !== null) {
        held.push(...changes);
        if (held.length > maxHeld) close();
        return;
      }
      for (const c of changes) write(changeEvent(c));
    });
    const beat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
    beat.unref();
    res.on('close', close);

    /** Sends `parts` in chunks of about 64 KiB, waiting for `drain` whenever the socket is full. */
    const paced = async (parts: Iterable<string>): Promise<void> => {
      let chunk = '';
      for (const part of parts) {
        chunk += part;
        if (chunk.length > 65_536) {
          const ok = write(chunk);
          chunk = '';
          if (!ok) await drained();
          if (closed) return;
        }
      }
      if (chunk) write(chunk);
    };

    const backlog = cursor === null ? null : blockSet.changesSince(cursor);
    void (async () => {
      let from: number;
      if (backlog !== null && cursor !== null) {
        await paced((function* () {
          for (const c of backlog) yield changeEvent(c);
        })());
        from = backlog.length > 0 ? backlog[backlog.length - 1]!.seq : cursor;
      } else {
        const snap = blockSet.snapshot();
        write(`event: snapshot\ndata: ${JSON.stringify({ seq: snap.seq, count: snap.entries.length })}\n\n`);
        // Entries in chunks, paced by the socket, so neither the snapshot nor its text is ever held twice whole.
        await paced((function* () {
          for (const e of snap.entries) yield `event: entry\ndata: ${entryJson(e)}\n\n`;
        })());
        // The id comes after the last entry: a reader cut off mid-snapshot has no id yet and gets a new snapshot.
        write(`event: snapshot-end\nid: ${snap.seq}\ndata: {"seq":${snap.seq}}\n\n`);
        from = snap.seq;
      }
      if (closed) return;
      const pending = held ?? [];
      held = null;
      catchingUp = false;
      for (const c of pending) if (c.seq > from) write(changeEvent(c));
    })();
  });
}
