// GET /api/v1/events/stream: token-protected, committed events arrive as SSE messages, a big batch is trimmed with a
// `skipped` count, and a reader that stops reading is cut off while a reading one stays connected.
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify from 'fastify';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { registerLiveRoute, type CommitSource } from '../../src/api/live.js';
import type { HoneypotEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { apiConfig } from './harness.js';
import { makeEvent, openStore, tempDir } from '../store/helpers.js';
import { SseDecoder } from '../../src/client/sse.js';

/** Opens the stream; resolves the response (status known) and a collector of parsed messages. */
function open(port: number, token?: string): Promise<{ res: IncomingMessage; messages: { type: string; data: string }[]; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/events/stream', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const messages: { type: string; data: string }[] = [];
      const sse = new SseDecoder();
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        for (const e of sse.push(d)) messages.push({ type: e.event, data: e.data });
      });
      resolve({ res, messages, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('events stream through a real store', { timeout: 60_000 }, () => {
  const tmp = tempDir('sipwarden-live-');
  const path = join(tmp.dir, 'sipwarden.db');
  const { store } = openStore(path);
  let api: ApiServer;
  let port: number;
  before(async () => {
    await store.start();
    api = createApiServer({
      config: apiConfig({ apiTokens: ['live-token'] }), dbPath: path, metrics: new Metrics({ processMetrics: false }),
      logger: createLogger('silent'), onCommit: (l) => store.onCommit(l),
    });
    await api.start();
    port = api.addresses()[0]!.port;
  });
  after(async () => {
    await api.stop();
    await store.stop();
    tmp.cleanup();
  });

  test('no token or a wrong one: 401, nothing streamed', async () => {
    for (const t of [undefined, 'wrong']) {
      const s = await open(port, t);
      assert.equal(s.res.statusCode, 401);
      s.close();
    }
  });

  test('a committed event arrives as an event message', async () => {
    const s = await open(port, 'live-token');
    assert.equal(s.res.statusCode, 200);
    assert.match(String(s.res.headers['content-type']), /^text\/event-stream/);
    await until(() => s.messages.some((m) => m.type === 'ready'), 5000, 'ready');
    const ev = makeEvent({ sourceIp: '198.51.100.77', userAgent: '<b>ua</b>\u202e', calledNumber: '0046812118532' });
    const t0 = Date.now();
    store.append(ev);
    await until(() => s.messages.some((m) => m.type === 'event'), 10_000, 'the event');
    const waited = Date.now() - t0;
    const got = JSON.parse(s.messages.find((m) => m.type === 'event')!.data) as Record<string, unknown>;
    assert.equal(got.event_uuid, ev.eventUuid);
    assert.equal(got.source_ip, '198.51.100.77');
    assert.equal(got.user_agent, '<b>ua</b>\u202e');
    assert.equal(got.called_number, '0046812118532');
    assert.equal(got.method, 'INVITE');
    assert.ok(waited < 10_000);
    s.close();
  });
});

describe('events stream bounds', { timeout: 60_000 }, () => {
  const listeners = new Set<(events: readonly HoneypotEvent[]) => void>();
  const onCommit: CommitSource = (l) => { listeners.add(l); return () => listeners.delete(l); };
  const emit = (events: readonly HoneypotEvent[]): void => { for (const l of [...listeners]) l(events); };
  const app = Fastify();
  let port: number;
  before(async () => {
    registerLiveRoute(app, onCommit, { maxBuffer: 64 * 1024, maxPerBatch: 200 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  test('a batch over the per-batch cap sends its newest events and a skipped count', async () => {
    const s = await open(port);
    await until(() => listeners.size === 1 && s.messages.some((m) => m.type === 'ready'), 5000, 'subscription');
    const batch = Array.from({ length: 250 }, (_, i) => makeEvent({ sourceIp: `192.0.2.${i % 250}`, calledNumber: String(i) }));
    emit(batch);
    await until(() => s.messages.filter((m) => m.type === 'event').length === 200, 5000, '200 events');
    assert.deepEqual(s.messages.find((m) => m.type === 'skipped'), { type: 'skipped', data: '{"count":50}' });
    const numbers = s.messages.filter((m) => m.type === 'event').map((m) => (JSON.parse(m.data) as { called_number: string }).called_number);
    assert.deepEqual(numbers, Array.from({ length: 200 }, (_, i) => String(i + 50)));
    s.close();
    await until(() => listeners.size === 0, 5000, 'unsubscribe on close');
  });

  test('a reader that stops reading is cut off; one that reads stays', async () => {
    const slow = await open(port);
    const fast = await open(port);
    await until(() => listeners.size === 2, 5000, 'two subscriptions');
    slow.res.pause(); // stops reading: the socket's buffers fill, then the server's unsent output grows
    const batch = Array.from({ length: 200 }, () => makeEvent({ userAgent: 'x'.repeat(400) }));
    let sent = 0;
    const end = Date.now() + 30_000;
    while (listeners.size === 2 && Date.now() < end) {
      emit(batch);
      sent += batch.length;
      await new Promise((r) => setTimeout(r, 5)); // lets the fast reader drain
    }
    assert.equal(listeners.size, 1, `the slow reader was not cut off after ${sent} events`);
    // The reader still connected is the one that reads: it keeps getting events.
    const before = fast.messages.length;
    emit(batch.slice(0, 3));
    await until(() => fast.messages.length >= before + 3, 5000, 'events to the fast reader');
    const slowClosed = new Promise<void>((resolve) => slow.res.on('close', () => resolve()));
    slow.res.resume();
    await slowClosed;
    fast.close();
    await until(() => listeners.size === 0, 5000, 'unsubscribe');
  });
});
