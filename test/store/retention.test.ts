// retention deletes old honey rows (with credentials and peer records) in small steps; aggregates keep
// their all-time counts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { formatEventTimestamp, type HoneypotEvent } from '../../src/events/event.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createRetention } from '../../src/store/retention.js';
import { makeEvent, newMetrics, openStore, silent, tempDir, waitUntil } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const DAY_US = 86_400_000_000;

function oldEvent(daysAgo: number, over: Partial<HoneypotEvent> = {}): HoneypotEvent {
  const us = Date.now() * 1000 - daysAgo * DAY_US;
  return makeEvent({
    eventTimeUs: us, eventTimestamp: formatEventTimestamp(BigInt(us) * 1000n), sourceIp: '203.0.113.9',
    auth: { header: 'Authorization', scheme: 'Digest', username: '100', realm: 'r', nonce: 'n', uri: 'sip:x', response: 'r',
      algorithm: 'MD5', qop: null, nc: null, cnonce: null, opaque: null, password: null, passwordSource: null, passwordVerified: null },
    origin: 'peer', originPeerId: 'peer', peerEnvelope: '{}',
    ...over,
  });
}

const count = (db: Database.Database, t: string): number => (db.prepare(`SELECT COUNT(*) AS c FROM ${t}`).get() as { c: number }).c;

describe('retention', { timeout: 60_000 }, () => {
  test('runs at start (worker writer): old rows and their credentials/peer records go, aggregates keep counts', async () => {
    const path = join(tmp.dir, 'ret.db');
    const first = openStore(path);
    await first.store.start();
    for (let i = 0; i < 1200; i++) first.store.append(oldEvent(3));
    for (let i = 0; i < 5; i++) first.store.append(oldEvent(0.1));
    await first.store.flush();
    await first.store.stop();

    const { store } = openStore(path, { retentionDays: 2 });
    await store.start();
    try {
      const db = store.db;
      assert.ok(await waitUntil(() => count(db, 'honey') === 5, 10_000), `honey rows left: ${count(db, 'honey')}`);
      assert.equal(count(db, 'credentials'), 5);
      assert.equal(count(db, 'peer_records'), 5);
      const ip = db.prepare("SELECT event_count, first_seen_us FROM ip_stats WHERE ip = '203.0.113.9'").get() as { event_count: number; first_seen_us: number };
      assert.equal(ip.event_count, 1205);
      assert.ok(ip.first_seen_us < Date.now() * 1000 - 2 * DAY_US);
      assert.equal((db.prepare("SELECT event_count FROM number_stats WHERE called_number = '0046812118532'").get() as { event_count: number }).event_count, 1205);
      assert.equal(await store.runRetention(), 0);
    } finally {
      await store.stop();
    }
  });

  test('main-thread store: steps are small and yield (no long stall), disabled when days ≤ 0', async () => {
    const metrics = newMetrics();
    const store = createMemoryStore({ metrics, logger: silent, retentionDays: 1 });
    await store.start();
    try {
      for (let i = 0; i < 6000; i++) store.append(oldEvent(5));
      store.append(oldEvent(0));
      await store.flush();
      let maxGap = 0;
      let last = performance.now();
      let ticking = true;
      const tick = (): void => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        if (ticking) setImmediate(tick);
      };
      last = performance.now();
      setImmediate(tick);
      const deleted = await store.runRetention();
      ticking = false;
      assert.equal(deleted, 6000);
      assert.equal(count(store.db, 'honey'), 1);
      assert.ok(maxGap < 150, `retention blocked the thread for ${maxGap.toFixed(1)} ms`);
      assert.equal((store.db.prepare('SELECT SUM(event_count) AS s FROM ip_stats').get() as { s: number }).s, 6001);
      const off = createRetention({ db: store.db, retentionDays: 0, log: { info() {}, warn() {} } });
      store.append(oldEvent(9));
      await store.flush();
      assert.equal(await off.runOnce(), 0);
      assert.equal(count(store.db, 'honey'), 2);
    } finally {
      await store.stop();
    }
  });
});
