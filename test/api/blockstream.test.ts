/**
 * `GET /api/v1/blocklist/stream` over a real socket: 401 without the token; snapshot then live changes; resume
 * with Last-Event-ID loses no change; a cursor older than the history gets a snapshot; a reader that does not
 * read is cut off at the buffer bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { createBlockSet, type BlockSet } from '../../src/enforce/blockset.js';
import { DEFAULT_BLOCK_POLICY, Exclusions } from '../../src/enforce/policy.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createSqliteStore, type SqliteEventStore } from '../../src/store/sqlite.js';
import { makeEvent } from '../store/make-event.js';
import { cleanup, tempDir, waitFor } from '../helpers/daemon.js';
import { apiConfig } from './harness.js';
import { SseDecoder } from '../../src/client/sse.js';

const TOKEN = 'stream-test-token';

interface Sse { events: { event: string; id?: string; data: string }[]; res: IncomingMessage; close(): void }

function open(port: number, headers: Record<string, string>): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/blocklist/stream', headers }, (res) => {
      const out: Sse = { events: [], res, close: () => req.destroy() };
      const sse = new SseDecoder();
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        for (const e of sse.push(d)) out.events.push({ event: e.event, data: e.data, ...(e.id !== null ? { id: e.id } : {}) });
      });
      res.on('error', () => undefined);
      resolve(out);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('block-set stream (SSE)', { timeout: 120_000 }, () => {
  let dir: string;
  let store: SqliteEventStore;
  let set: BlockSet;
  let api: ApiServer;
  let port: number;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const hit = async (...ips: string[]): Promise<void> => {
    for (const ip of ips) store.append(makeEvent({ sourceIp: ip, transport: 'TCP', sourceVerified: true }));
    await store.flush();
  };

  before(async () => {
    dir = tempDir('sw-stream-');
    const path = join(dir, 'sipwarden.db');
    store = createSqliteStore({ path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent'), batchMaxDelayMs: 5 });
    await store.start();
    set = createBlockSet({
      onCommit: (l) => store.onCommit(l), facts: store.blockSetSource(), policy: DEFAULT_BLOCK_POLICY,
      exclusions: new Exclusions(), logger: createLogger('silent'), historyMax: 5,
    });
    await set.start();
    await hit('203.0.113.1', '2001:db8::1');
    api = createApiServer({ config: apiConfig({ apiTokens: [TOKEN] }), dbPath: path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent'), blockSet: set });
    await api.start();
    port = api.addresses()[0]!.port;
  });
  after(async () => {
    await api.stop();
    await set.stop();
    await store.stop();
    cleanup(dir);
  });

  test('without the token: 401', async () => {
    const s = await open(port, {});
    assert.equal(s.res.statusCode, 401);
    s.close();
  });

  test('snapshot, then changes; resume with Last-Event-ID loses nothing; an old cursor gets a snapshot', async () => {
    const s = await open(port, auth);
    assert.equal(s.res.statusCode, 200);
    assert.match(String(s.res.headers['content-type']), /text\/event-stream/);
    await waitFor(() => s.events.some((e) => e.event === 'snapshot-end'), 5000);
    const entries = s.events.filter((e) => e.event === 'entry').map((e) => (JSON.parse(e.data) as { ip: string }).ip).sort();
    assert.deepEqual(entries, ['2001:db8::1', '203.0.113.1']);
    const snapId = s.events.find((e) => e.event === 'snapshot-end')!.id!;
    await hit('203.0.113.2');
    await waitFor(() => s.events.some((e) => e.event === 'add'), 5000);
    const add = s.events.find((e) => e.event === 'add')!;
    assert.equal((JSON.parse(add.data) as { ip: string }).ip, '203.0.113.2');
    assert.equal(Number(add.id), Number(snapId) + 1);
    s.close();

    // While disconnected: two more; resume from the last id seen.
    await hit('203.0.113.3', '203.0.113.4');
    const r = await open(port, { ...auth, 'last-event-id': add.id! });
    await waitFor(() => r.events.filter((e) => e.event === 'add').length >= 2, 5000);
    assert.equal(r.events.some((e) => e.event === 'snapshot'), false);
    assert.deepEqual(r.events.filter((e) => e.event === 'add').map((e) => (JSON.parse(e.data) as { ip: string }).ip), ['203.0.113.3', '203.0.113.4']);
    r.close();

    // Past the history (5 changes kept): a snapshot instead.
    await hit('203.0.113.5', '203.0.113.6', '203.0.113.7', '203.0.113.8', '203.0.113.9', '203.0.113.10', '203.0.113.11');
    const o = await open(port, { ...auth, 'last-event-id': add.id! });
    await waitFor(() => o.events.some((e) => e.event === 'snapshot-end'), 5000);
    assert.equal(o.events.filter((e) => e.event === 'entry').length, 12);
    o.close();
  });
});
