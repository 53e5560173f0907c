/**
 * `/api/v1/blocklist/stream` over a real socket: snapshot then changes, resume with Last-Event-ID losing nothing,
 * a fresh snapshot when the history is gone, 400 on a bad position, a slow reader cut off; and through the real
 * daemon, the bearer token (401 without it).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import Fastify from 'fastify';
import { registerBlocklistStream } from '../../src/api/stream.js';
import type { BlockChange, BlockEntry, BlockSet } from '../../src/enforce/blockset.js';
import { Metrics } from '../../src/metrics.js';
import { cleanup, startDaemon, tempDir } from '../helpers/daemon.js';

/** A block set driven by the test: `push` adds changes; history can be forgotten. */
function fakeSet(): BlockSet & { push(c: Omit<BlockChange, 'seq'>[]): void; forget(): void } {
  let seq = 1000;
  const entries = new Map<string, BlockEntry>();
  let history: BlockChange[] = [];
  const listeners = new Set<(c: readonly BlockChange[]) => void>();
  return {
    async start() {},
    async stop() {},
    get seq() {
      return seq;
    },
    snapshot: () => ({ seq, entries: [...entries.values()] }),
    changesSince: (s) => (history.length && history[0]!.seq > s + 1 ? null : history.filter((c) => c.seq > s)),
    size: (f) => [...entries.values()].filter((e) => e.family === f).length,
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
    forget() {
      history = [];
    },
  };
}

/** Reads SSE events from the stream until `n` events (snapshot chunks and changes) arrived. */
async function read(port: number, n: number, headers: Record<string, string> = {}): Promise<{ status: number; events: { event: string; id: string | null; data: Record<string, unknown> }[] }> {
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/blocklist/stream`, { headers, signal: ac.signal });
  const events: { event: string; id: string | null; data: Record<string, unknown> }[] = [];
  if (res.status !== 200) return { status: res.status, events };
  let buf = '';
  const dec = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (block.startsWith(':')) continue;
      const field = (k: string): string | null => block.split('\n').find((l) => l.startsWith(k + ': '))?.slice(k.length + 2) ?? null;
      events.push({ event: field('event')!, id: field('id'), data: JSON.parse(field('data')!) as Record<string, unknown> });
    }
    if (events.length >= n) break;
  }
  ac.abort();
  return { status: res.status, events };
}

const add = (ip: string): Omit<BlockChange, 'seq'> => ({ op: 'add', ip, family: ip.includes(':') ? 6 : 4, expiresAtMs: 2e12, lastHitMs: 1e12 });

describe('block-set stream', async () => {
  const set = fakeSet();
  const metrics = new Metrics();
  const app = Fastify();
  registerBlocklistStream(app, { blockSet: () => set, metrics, maxBuffered: 64 * 1024 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  after(() => app.close());

  test('a snapshot, then every change with its sequence number as id', async () => {
    set.push([add('8.8.8.8'), add('2a00::1')]);
    const reading = read(port, 3);
    await new Promise((r) => setTimeout(r, 200));
    set.push([add('9.9.9.9'), { ...add('8.8.8.8'), op: 'remove', reason: 'expired' }]);
    const { events } = await reading;
    assert.equal(events[0]!.event, 'snapshot');
    assert.deepEqual((events[0]!.data.entries as { ip: string }[]).map((e) => e.ip).sort(), ['2a00::1', '8.8.8.8']);
    assert.equal(events[0]!.id, String(set.seq - 2));
    assert.deepEqual(events.slice(1).map((e) => [e.data.op, e.data.ip, e.id]), [['add', '9.9.9.9', String(set.seq - 1)], ['remove', '8.8.8.8', String(set.seq)]]);
  });

  test('resuming with Last-Event-ID gets exactly the missed changes; a forgotten position gets a snapshot', async () => {
    const from = set.seq;
    set.push([add('1.1.1.1'), add('1.0.0.1')]);
    const r = await read(port, 2, { 'last-event-id': String(from) });
    assert.deepEqual(r.events.map((e) => [e.event, e.data.ip]), [['change', '1.1.1.1'], ['change', '1.0.0.1']]);
    // Up to date: no snapshot, the next event is the next change.
    const upToDate = read(port, 1, { 'last-event-id': String(set.seq) });
    await new Promise((r) => setTimeout(r, 200));
    set.push([add('5.5.5.5')]);
    assert.deepEqual((await upToDate).events.map((e) => [e.event, e.data.ip]), [['change', '5.5.5.5']]);
    set.forget();
    set.push([add('4.4.4.4')]);
    const s = await read(port, 1, { 'last-event-id': String(from) });
    assert.equal(s.events[0]!.event, 'snapshot');
    assert.ok((s.events[0]!.data.entries as { ip: string }[]).some((e) => e.ip === '4.4.4.4'));
  });

  test('a position that is not a sequence number is 400', async () => {
    for (const bad of ['abc', '-1', '1e3', '99999999999999999']) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/blocklist/stream`, { headers: { 'last-event-id': bad } });
      assert.equal(r.status, 400, bad);
      await r.text();
    }
  });

  test('a reader that does not read is cut off once its unsent bytes pass the bound', async () => {
    const before = (await metrics.blocklistStreamCutoffs.get()).values[0]?.value ?? 0;
    const sock = connect(port, '127.0.0.1');
    sock.write('GET /api/v1/blocklist/stream HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.pause(); // never reads
    await new Promise((r) => setTimeout(r, 200));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    for (let i = 0; i < 200 && (((await metrics.blocklistStreamCutoffs.get()).values[0]?.value ?? 0) === before); i++) {
      set.push(Array.from({ length: 500 }, (_, j) => add(`2a00:${i.toString(16)}::${j.toString(16)}`)));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await metrics.blocklistStreamCutoffs.get()).values[0]?.value, before + 1);
    sock.resume();
    await closed;
  });
});

describe('block-set stream through the daemon', { timeout: 60_000 }, () => {
  test('needs the bearer token', async () => {
    const d = await startDaemon(['-R', '-a', '--api-listen', '127.0.0.1:0', '--api-token', 'stream-test-token-123'], { expect: { http: 1 } });
    try {
      const port = d.endpoint('http').port;
      assert.equal((await read(port, 1)).status, 401);
      assert.equal((await read(port, 1, { authorization: 'Bearer wrong-token-000000' })).status, 401);
      const ok = await read(port, 1, { authorization: 'Bearer stream-test-token-123' });
      assert.equal(ok.status, 200);
      assert.equal(ok.events[0]!.event, 'snapshot');
    } finally {
      await d.stop();
      cleanup(d.dataDir);
    }
  });
});
