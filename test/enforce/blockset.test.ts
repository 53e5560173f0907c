/**
 * The block set over a real sqlite store: committed batches (local and peer events) become an ordered change
 * stream; expiry, refresh coalescing, --block-max eviction, exclusions, resume and the start-up reconcile.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createSqliteStore, type SqliteEventStore } from '../../src/store/sqlite.js';
import { createBlockSet, type BlockChange, type BlockSet } from '../../src/enforce/blockset.js';
import { DEFAULT_BLOCK_POLICY, Exclusions, type BlockPolicy } from '../../src/enforce/policy.js';
import type { HoneypotEvent } from '../../src/events/event.js';
import { newUuid } from '../../src/events/event.js';
import { cleanup, tempDir } from '../helpers/daemon.js';

const log = createLogger('silent');

function ev(ip: string, timeMs: number, o: Partial<HoneypotEvent> = {}): HoneypotEvent {
  const iso = new Date(timeMs).toISOString().replace('T', ' ').replace('Z', '000000');
  return {
    eventUuid: newUuid(), eventTimestamp: iso, eventTimeUs: timeMs * 1000, collectedMethod: 'responsive', sourceIp: ip,
    sourcePort: 5060, destinationIp: '198.51.100.1', destinationPort: 5060, transport: 'TCP', method: 'OPTIONS',
    calledNumber: '100', calledNumberE164: null, requestUriUser: '100', toUser: '100', userAgent: 'test',
    sipMessage: 'OPTIONS sip:100@x SIP/2.0\r\n\r\n', sipMessageRaw: null, createdByNodeId: '00000000-0000-4000-8000-000000000000',
    origin: 'local', originPeerId: null, responseCode: 200, sourceCountry: null, sourceCity: null, sourceVerified: true,
    auth: null, peerEnvelope: null,
    ...o,
  } as HoneypotEvent;
}

interface Rig {
  store: SqliteEventStore;
  set: BlockSet;
  changes: BlockChange[];
  clock: { t: number };
  add(...events: HoneypotEvent[]): Promise<void>;
  stop(): Promise<void>;
}

async function rig(dir: string, name: string, policy: Partial<BlockPolicy> = {}, excl?: Exclusions, clockStart = Date.now()): Promise<Rig> {
  const store = createSqliteStore({ path: join(dir, `${name}.db`), metrics: new Metrics({ processMetrics: false }), logger: log, batchMaxDelayMs: 5 });
  await store.start();
  const clock = { t: clockStart };
  const set = createBlockSet({
    onCommit: (l) => store.onCommit(l),
    facts: store.blockSetSource(),
    policy: { ...DEFAULT_BLOCK_POLICY, ...policy },
    exclusions: excl ?? new Exclusions(),
    logger: log,
    now: () => clock.t,
    sweepMs: 60_000,
  });
  await set.start();
  const changes: BlockChange[] = [];
  set.subscribe((c) => changes.push(...c));
  return {
    store, set, changes, clock,
    async add(...events) {
      for (const e of events) store.append(e);
      await store.flush();
    },
    async stop() {
      await set.stop();
      await store.stop();
    },
  };
}

describe('block set', { timeout: 240_000 }, () => {
  let dir: string;
  before(() => { dir = tempDir('sw-blockset-'); });
  after(() => cleanup(dir));

  test('a committed verified event adds the address; an unverified one does not; expiry removes it', async () => {
    const r = await rig(dir, 'basic', { ttlSeconds: 3 });
    const t = r.clock.t;
    await r.add(ev('203.0.113.7', t), ev('203.0.113.8', t, { transport: 'UDP', sourceVerified: false }), ev('2001:db8::7', t));
    assert.equal(r.set.has('203.0.113.7'), true);
    assert.equal(r.set.has('203.0.113.8'), false, 'unverified UDP source must not be blocked by default');
    assert.equal(r.set.has('2001:db8::7'), true);
    assert.deepEqual(r.changes.map((c) => [c.op, c.ip, c.family]), [['add', '203.0.113.7', 4], ['add', '2001:db8::7', 6]]);
    assert.equal(r.changes[0]!.expiresAtMs, Math.floor(t) + 3000);
    // Strictly increasing sequence numbers, above the clock-based start.
    assert.ok(r.changes[1]!.seq === r.changes[0]!.seq + 1);
    r.clock.t = t + 2000;
    r.set.sweep();
    assert.equal(r.set.size(4), 1);
    r.clock.t = t + 3001;
    r.set.sweep();
    assert.equal(r.set.size(4), 0);
    assert.equal(r.set.size(6), 0);
    assert.deepEqual(r.changes.slice(2).map((c) => [c.op, c.ip, c.reason]), [['remove', '203.0.113.7', 'expired'], ['remove', '2001:db8::7', 'expired']]);
    await r.stop();
  });

  test('a new hit refreshes the expiry (coalesced) and moves the address to the newest end', async () => {
    const r = await rig(dir, 'refresh', { ttlSeconds: 100 });
    const t = r.clock.t;
    await r.add(ev('203.0.113.1', t - 5000), ev('203.0.113.2', t - 4000));
    await r.add(ev('203.0.113.1', t - 4999)); // 1 ms later: below the refresh step, no change published
    assert.equal(r.changes.filter((c) => c.op === 'refresh').length, 0);
    await r.add(ev('203.0.113.1', t)); // 5 s later: ≥ the step (ttl/10 = 10 s)? no: 5 s < 10 s
    assert.equal(r.changes.filter((c) => c.op === 'refresh').length, 0);
    r.clock.t = t + 20_000;
    await r.add(ev('203.0.113.1', t + 20_000));
    const refresh = r.changes.filter((c) => c.op === 'refresh');
    assert.equal(refresh.length, 1);
    assert.equal(refresh[0]!.expiresAtMs, t + 20_000 + 100_000);
    // 203.0.113.2 now has the oldest last hit: it expires first.
    r.clock.t = t - 4000 + 100_001;
    r.set.sweep();
    assert.equal(r.set.has('203.0.113.2'), false);
    assert.equal(r.set.has('203.0.113.1'), true);
    await r.stop();
  });

  test('--block-max: with a cap of 100 and 150 addresses the newest 100 stay; evictions are counted', async () => {
    const r = await rig(dir, 'max', { maxPerFamily: 100 });
    const t = r.clock.t;
    const ips = Array.from({ length: 150 }, (_, i) => `198.51.${100 + (i >> 8)}.${i & 255}`);
    for (let i = 0; i < 150; i += 30) await r.add(...ips.slice(i, i + 30).map((ip, k) => ev(ip, t - 1_000_000 + (i + k) * 1000)));
    assert.equal(r.set.size(4), 100);
    assert.equal(r.set.evictedCount(4), 50);
    for (const ip of ips.slice(50)) assert.equal(r.set.has(ip), true, ip);
    for (const ip of ips.slice(0, 50)) assert.equal(r.set.has(ip), false, ip);
    assert.equal(r.changes.filter((c) => c.reason === 'evicted').length, 50);
    await r.stop();
  });

  test('never blocked: allowlist, loopback, link-local, own address (counted, not in the set)', async () => {
    const excl = new Exclusions({ allow: ['203.0.113.0/28'], ownAddresses: () => ['192.0.2.55'] });
    const seen: string[] = [];
    const store = createSqliteStore({ path: join(dir, 'excl.db'), metrics: new Metrics({ processMetrics: false }), logger: log, batchMaxDelayMs: 5 });
    await store.start();
    const set = createBlockSet({
      onCommit: (l) => store.onCommit(l), facts: store.blockSetSource(), policy: DEFAULT_BLOCK_POLICY, exclusions: excl, logger: log,
      counters: { evicted: () => undefined, elements: () => undefined, excluded: (ip, reason, first) => { if (first) seen.push(`${ip}:${reason}`); } },
    });
    await set.start();
    const t = Date.now();
    for (const ip of ['203.0.113.3', '127.0.0.1', '::1', 'fe80::1', '169.254.1.1', '192.0.2.55', '203.0.113.99']) store.append(ev(ip, t));
    store.append(ev('127.0.0.1', t));
    await store.flush();
    assert.deepEqual([...seen].sort(), ['127.0.0.1:loopback', '169.254.1.1:link-local', '192.0.2.55:own-address', '203.0.113.3:allow', '::1:loopback', 'fe80::1:link-local'].sort());
    assert.equal(set.size(4), 1);
    assert.equal(set.has('203.0.113.99'), true);
    await set.stop();
    await store.stop();
  });

  test('peer records count with --block-peers on, not with it off; resume after a cursor', async () => {
    const on = await rig(dir, 'peers-on');
    const t = on.clock.t;
    const peer = { origin: 'peer' as const, originPeerId: '12D3KooWtest' };
    await on.add(ev('203.0.113.50', t, peer));
    assert.equal(on.set.has('203.0.113.50'), true);
    const cursor = on.set.seq;
    await on.add(ev('203.0.113.51', t, peer), ev('203.0.113.52', t));
    assert.deepEqual(on.set.changesSince(cursor)!.map((c) => c.ip), ['203.0.113.51', '203.0.113.52']);
    assert.deepEqual(on.set.changesSince(on.set.seq), []);
    assert.equal(on.set.changesSince(cursor - 1_000_000_000), null, 'a cursor older than the history needs a snapshot');
    assert.equal(on.set.snapshot().entries.length, 3);
    await on.stop();

    const off = await rig(dir, 'peers-off', { peers: false });
    await off.add(ev('203.0.113.60', t, peer), ev('203.0.113.61', t));
    assert.equal(off.set.has('203.0.113.60'), false);
    assert.equal(off.set.has('203.0.113.61'), true);
    await off.stop();
  });

  test('restart reconcile: exactly the addresses that qualify within their TTL, newest kept under the cap', async () => {
    const now = Date.now();
    const a = await rig(dir, 'reconcile', { ttlSeconds: 60 }, undefined, now);
    await a.add(
      ev('203.0.113.70', now - 10_000),
      ev('203.0.113.71', now - 61_000), // TTL already ran out
      ev('203.0.113.72', now - 5_000, { transport: 'UDP', sourceVerified: false }), // unverified
      ev('127.0.0.1', now - 1_000), // never blocked
      ev('2001:db8::70', now - 2_000),
    );
    await a.stop();
    const b = await rig(dir, 'reconcile', { ttlSeconds: 60 }, undefined, now);
    assert.deepEqual(b.set.snapshot().entries.map((e) => e.ip).sort(), ['2001:db8::70', '203.0.113.70']);
    assert.equal(b.set.snapshot().entries.find((e) => e.ip === '203.0.113.70')!.expiresAtMs, now - 10_000 + 60_000);
    assert.equal(b.changes.length, 0, 'the reconcile is a snapshot, not a burst of changes');
    await b.stop();
    const c = await rig(dir, 'reconcile', { ttlSeconds: 60, maxPerFamily: 1 }, undefined, now);
    await c.add(ev('203.0.113.80', now - 20_000));
    await c.stop();
    const d = await rig(dir, 'reconcile', { ttlSeconds: 60, maxPerFamily: 1 }, undefined, now);
    assert.deepEqual(d.set.snapshot().entries.filter((e) => e.family === 4).map((e) => e.ip), ['203.0.113.70']);
    await d.stop();
  });
});
