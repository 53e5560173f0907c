/**
 * The typed client's SSE iterator and its 429 handling against a node's API on real sockets: a store and block set
 * as the node wires them (events written through the store), the API's own rate limiter configured low.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { ApiRateLimitedError, ApiUnreachableError, SipwardenClient, type SseEvent } from '../../src/client/index.js';
import { createBlockSet, type BlockSet } from '../../src/enforce/blockset.js';
import { DEFAULT_BLOCK_POLICY, Exclusions } from '../../src/enforce/policy.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createSqliteStore, type SqliteEventStore } from '../../src/store/sqlite.js';
import { makeEvent } from '../store/make-event.js';
import { cleanup, tempDir } from '../helpers/daemon.js';
import { apiConfig } from '../api/harness.js';

const TOKEN = 'client-stream-token';

describe('client: SSE iterator and 429 retry', { timeout: 120_000 }, () => {
  let dir: string;
  let store: SqliteEventStore;
  let set: BlockSet;
  let api: ApiServer;
  let limited: ApiServer;
  let base: string;
  let limitedBase: string;
  const hit = async (ip: string): Promise<void> => {
    store.append(makeEvent({ sourceIp: ip, transport: 'TCP', sourceVerified: true }));
    await store.flush();
  };

  before(async () => {
    dir = tempDir('sw-client-stream-');
    const path = join(dir, 'sipwarden.db');
    store = createSqliteStore({ path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent'), batchMaxDelayMs: 5 });
    await store.start();
    set = createBlockSet({
      onCommit: (l) => store.onCommit(l), facts: store.blockSetSource(), policy: DEFAULT_BLOCK_POLICY,
      exclusions: new Exclusions(), logger: createLogger('silent'),
    });
    await set.start();
    await hit('203.0.113.10');
    api = createApiServer({ config: apiConfig({ apiTokens: [TOKEN] }), dbPath: path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent'), blockSet: set });
    await api.start();
    base = `http://127.0.0.1:${api.addresses()[0]!.port}`;
    // --api-rate-limit 1: 5 requests per source in a 5 s window.
    limited = createApiServer({ config: apiConfig({ apiTokens: [TOKEN], apiRateLimit: 1 }), dbPath: path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
    await limited.start();
    limitedBase = `http://127.0.0.1:${limited.addresses()[0]!.port}`;
  });
  after(async () => {
    await api.stop();
    await limited.stop();
    await set.stop();
    await store.stop();
    cleanup(dir);
  });

  test('stream(): snapshot with the existing entry, then a live add; resumes after its last id', async () => {
    const client = new SipwardenClient({ baseUrl: base, token: TOKEN });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30_000);
    const got: SseEvent[] = [];
    let lastId: string | null = null;
    for await (const ev of client.stream('/api/v1/blocklist/stream', { signal: ac.signal })) {
      got.push(ev);
      if (ev.id !== null) lastId = ev.id;
      if (ev.event === 'snapshot-end') await hit('198.51.100.20');
      if (ev.event === 'add') break;
    }
    clearTimeout(timer);
    assert.deepEqual(got.map((e) => e.event), ['snapshot', 'entry', 'snapshot-end', 'add']);
    assert.equal((JSON.parse(got[1]!.data) as { ip: string }).ip, '203.0.113.10');
    assert.equal((JSON.parse(got[3]!.data) as { ip: string }).ip, '198.51.100.20');
    // Resume: only what came after the last id.
    await hit('198.51.100.21');
    const ac2 = new AbortController();
    const timer2 = setTimeout(() => ac2.abort(), 30_000);
    const resumed: string[] = [];
    for await (const ev of client.stream('/api/v1/blocklist/stream', { signal: ac2.signal, lastEventId: lastId! })) {
      resumed.push(`${ev.event} ${(JSON.parse(ev.data) as { ip?: string }).ip ?? ''}`);
      break;
    }
    clearTimeout(timer2);
    assert.deepEqual(resumed, ['add 198.51.100.21']);
  });

  test('429: the client waits Retry-After and succeeds; without retries it throws ApiRateLimitedError', async () => {
    const raw = async (): Promise<Response> => fetch(`${limitedBase}/api/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
    // Use up the window with plain requests until the limiter answers 429.
    let r = await raw();
    let n = 1;
    while (r.status !== 429 && n < 20) {
      await r.arrayBuffer();
      r = await raw();
      n++;
    }
    assert.equal(r.status, 429, 'rate limiter answered 429');
    const retryAfter = Number(r.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter}`);
    await r.arrayBuffer();

    const impatient = new SipwardenClient({ baseUrl: limitedBase, token: TOKEN, maxRetries: 0 });
    await assert.rejects(impatient.get('/api/v1/stats'), (e: unknown) => e instanceof ApiRateLimitedError && e.status === 429 && (e.retryAfter ?? 0) >= 1);

    const retries: number[] = [];
    const patient = new SipwardenClient({ baseUrl: limitedBase, token: TOKEN, maxRetries: 3, onRetry: (i) => retries.push(i.delayMs) });
    const t0 = Date.now();
    const stats = await patient.get('/api/v1/stats');
    assert.equal(typeof stats.totals.events, 'number');
    assert.ok(retries.length >= 1, 'retried at least once');
    assert.ok(retries.every((ms) => ms >= 1000 && ms <= 5000), `delays from Retry-After: ${retries.join(',')}`);
    assert.ok(Date.now() - t0 >= retries[0]! - 50, 'waited the Retry-After');
  });

  test('a server that accepts and never answers: ApiUnreachableError "timed out" after timeoutMs', async () => {
    const sockets: Socket[] = [];
    const mute = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (mute.address() as { port: number }).port;
      const client = new SipwardenClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 300 });
      const t0 = Date.now();
      await assert.rejects(client.get('/api/v1/stats'), (e: unknown) => e instanceof ApiUnreachableError && e.reason === 'timed out');
      assert.ok(Date.now() - t0 < 10_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    }
  });
});
