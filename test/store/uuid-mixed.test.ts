// Rows stored before event ids became UUIDv7 (SentryPeer's and our own UUIDv4 values) live in the same table and
// index as new UUIDv7 rows: every lookup by event_uuid must still find both kinds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { newEventUuid, newUuid } from '../../src/events/event.js';
import { createRetention } from '../../src/store/retention.js';
import { makeEvent, openStore, silent, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('old UUIDv4 rows and new UUIDv7 rows are both found by every event_uuid lookup', { timeout: 60_000 }, async () => {
  const path = join(tmp.dir, 'mixed.db');
  for (const writer of ['worker', 'main'] as const) {
    const { store } = openStore(path, { writer });
    await store.start();
    try {
      // Old rows (v4, written first, a day old) interleaved with new ones (v7), with credentials and peer records.
      const dayAgoUs = Date.now() * 1000 - 86_400_000_000 - 1_000_000;
      const auth = { header: 'Authorization' as const, scheme: 'Digest', username: '100', realm: 'r', nonce: 'n', uri: 'sip:x', response: 'r',
        algorithm: null, qop: null, nc: null, cnonce: null, opaque: null, password: null, passwordSource: null, passwordVerified: null };
      const old = Array.from({ length: 300 }, (_, i) => makeEvent({ eventUuid: newUuid(), eventTimeUs: dayAgoUs + i, auth,
        ...(i % 3 === 0 ? { origin: 'peer' as const, originPeerId: '12D3KooWPeer', peerEnvelope: `{"n":${i}}` } : {}) }));
      const fresh = Array.from({ length: 300 }, () => makeEvent({ eventUuid: newEventUuid(), auth }));
      for (let i = 0; i < 300; i++) { store.append(old[i]!); store.append(fresh[i]!); }
      // Queued (not yet committed) events of both kinds are found too.
      assert.equal(store.hasEvent(old[5]!.eventUuid), true);
      assert.equal(store.hasEvent(fresh[5]!.eventUuid), true);
      await store.flush();
      for (const e of [...old, ...fresh]) assert.equal(store.hasEvent(e.eventUuid), true, e.eventUuid);
      assert.equal(store.hasEvent(newUuid()), false);
      assert.equal(store.hasEvent(newEventUuid()), false);
      assert.ok(old.every((e) => V4.test(e.eventUuid)) && fresh.every((e) => V7.test(e.eventUuid)));

      // The index serves both kinds (the lookup is an index search, not a scan).
      const plan = store.db.prepare('EXPLAIN QUERY PLAN SELECT honey_id FROM honey WHERE event_uuid = ?').all(old[0]!.eventUuid) as { detail: string }[];
      assert.match(plan.map((p) => p.detail).join(' '), /USING (COVERING )?INDEX event_uuid_index/);
      const byUuid = store.db.prepare('SELECT event_uuid, event_time_us FROM honey WHERE event_uuid = ?');
      for (const e of [old[0]!, old[299]!, fresh[0]!, fresh[299]!]) {
        assert.deepEqual(byUuid.get(e.eventUuid), { event_uuid: e.eventUuid, event_time_us: e.eventTimeUs });
      }
      const credByUuid = store.db.prepare('SELECT COUNT(*) AS n FROM credentials WHERE event_uuid = ?');
      assert.equal((credByUuid.get(old[7]!.eventUuid) as { n: number }).n, 1);
      assert.equal((credByUuid.get(fresh[7]!.eventUuid) as { n: number }).n, 1);
    } finally {
      await store.stop();
    }
  }

  // Retention finds the old rows' credentials and peer records by their UUIDv4 and deletes them with the rows.
  const { store } = openStore(path, { writer: 'main' });
  await store.start();
  try {
    const db = store.db;
    const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    assert.equal(count('SELECT COUNT(*) AS n FROM honey'), 1200);
    assert.equal(count('SELECT COUNT(*) AS n FROM peer_records'), 200);
    const retention = createRetention({ db, retentionDays: 1, log: silent, stepPauseMs: 0 });
    assert.equal(await retention.runOnce(), 600);
    await retention.stop();
    assert.equal(count("SELECT COUNT(*) AS n FROM honey WHERE substr(event_uuid, 15, 1) = '4'"), 0);
    assert.equal(count("SELECT COUNT(*) AS n FROM honey WHERE substr(event_uuid, 15, 1) = '7'"), 600);
    assert.equal(count('SELECT COUNT(*) AS n FROM credentials'), 600);
    assert.equal(count('SELECT COUNT(*) AS n FROM peer_records'), 0);
  } finally {
    await store.stop();
  }
});
