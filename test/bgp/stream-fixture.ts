/** A block set driven by the test and the stream route serving it, for the feed's tests. */
import Fastify from 'fastify';
import { registerBlockStreamRoute } from '../../src/api/blockstream.js';
import type { BlockChange, BlockEntry, BlockSet } from '../../src/enforce/blockset.js';

/** A block set the test drives: `push` makes changes (with sequence numbers) and tells the subscribers. */
export function fakeSet(): BlockSet & { push(c: Omit<BlockChange, 'seq'>[]): void } {
  let seq = 10;
  const entries = new Map<string, BlockEntry>();
  const history: BlockChange[] = [];
  const listeners = new Set<(c: readonly BlockChange[]) => void>();
  return {
    async start() {},
    async stop() {},
    get seq() {
      return seq;
    },
    snapshot: () => ({ seq, entries: [...entries.values()] }),
    changesSince: (s) => history.filter((c) => c.seq > s),
    size: () => entries.size,
    has: (ip) => entries.has(ip),
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    sweep() {},
    evictedCount: () => 0,
    push(cs) {
      const out = cs.map((c) => ({ ...c, seq: ++seq }));
      for (const c of out) {
        if (c.op === 'remove') entries.delete(c.ip);
        else entries.set(c.ip, { ip: c.ip, family: c.family, expiresAtMs: c.expiresAtMs, lastHitMs: c.lastHitMs });
      }
      history.push(...out);
      for (const l of listeners) l(out);
    },
  };
}
/** A change of one address. */
export const add = (ip: string, op: BlockChange['op'] = 'add'): Omit<BlockChange, 'seq'> => ({ op, ip, family: ip.includes(':') ? 6 : 4, expiresAtMs: 2e12, lastHitMs: 1e12 });

/** The API's stream route alone, on a real socket. */
export async function serve(set: BlockSet, port = 0, maxBuffer?: number): Promise<{ port: number; close(): Promise<void> }> {
  const app = Fastify({ forceCloseConnections: true });
  registerBlockStreamRoute(app, set, maxBuffer === undefined ? {} : { maxBuffer });
  await app.listen({ port, host: '127.0.0.1' });
  return { port: (app.server.address() as { port: number }).port, close: () => app.close() };
}
