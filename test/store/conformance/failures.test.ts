// Conformance: an unreachable database and a full disk surface as coded errors — a refused start
// (SW_STORE_OPEN_FAILED), an `unavailable` read, SW_STORE_WRITE_FAILED in the log while writes fail — and never as
// a throw from append(); once space is back, every held event is stored exactly once. How the disk fills is the
// backend's (see failure.test.ts for the backlog bounds and drop counts, not repeated here).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, SipwardenError } from '../../../src/errors.js';
import { QueryError } from '../../../src/store/query-error.js';
import { counterValue, makeEvent, waitUntil } from '../helpers.js';
import { BACKENDS } from './backends.js';

for (const backend of BACKENDS) {
  describe(`conformance failures: ${backend.name}`, { timeout: 30_000 }, () => {
    test('unavailable database: start() is refused with SW_STORE_OPEN_FAILED, reads fail as unavailable', async () => {
      const u = backend.openUnavailable();
      try {
        await assert.rejects(u.store.start(), (e: unknown) => e instanceof SipwardenError && e.code === ERROR_CODES.STORE_OPEN_FAILED);
        assert.throws(() => u.reader.events({ order: 'desc', limit: 1 }), (e: unknown) => e instanceof QueryError && e.kind === 'unavailable');
        assert.throws(() => u.reader.ipExists('192.0.2.1'), (e: unknown) => e instanceof QueryError && e.kind === 'unavailable');
        assert.throws(() => u.reader.openCompatList('ip'), (e: unknown) => e instanceof QueryError && e.kind === 'unavailable');
      } finally {
        await u.close();
      }
    });

    test('full disk: append never throws, SW_STORE_WRITE_FAILED is logged, reads keep working, held events land once', async () => {
      const s = await backend.open();
      try {
        const first = makeEvent({ sourceIp: '192.0.2.50' });
        s.store.append(first);
        await s.store.flush();
        await s.setDiskFull(true);
        const held = Array.from({ length: 200 }, (_, i) => makeEvent({ sourceIp: '192.0.2.51', eventTimeUs: first.eventTimeUs + 1 + i }));
        for (const e of held) assert.doesNotThrow(() => s.store.append(e));
        assert.ok(await waitUntil(() => s.logs.some((l) => l.code === ERROR_CODES.STORE_WRITE_FAILED), 10_000), 'no coded write failure logged');
        assert.ok((await counterValue(s.metrics.storeWriteErrors)) >= 1);
        // Committed data stays readable while writes fail; the held events are not visible yet.
        assert.deepEqual(s.reader.events({ order: 'desc', limit: 10 }).items.map((i) => i.event_uuid), [first.eventUuid]);
        assert.equal(s.store.hasEvent(held[0]!.eventUuid), true, 'queued events count as known (P2P dedupe)');
        await s.setDiskFull(false);
        await s.store.flush();
        const got: unknown[] = [];
        for (let cursor: string | undefined; ;) {
          const p = s.reader.events({ order: 'asc', limit: 64, ...(cursor ? { cursor } : {}) });
          got.push(...p.items.map((i) => i.event_uuid));
          if (!p.next_cursor) break;
          cursor = p.next_cursor;
        }
        assert.deepEqual(got, [first, ...held].map((e) => e.eventUuid));
        assert.equal(s.reader.ipAddresses({ details: false, limit: 5, source: { ip: '192.0.2.51' } }).items[0]?.count, held.length);
        assert.equal(await counterValue(s.metrics.storeDropped), 0);
      } finally {
        await s.close();
      }
    });

    test('stop() while the disk stays full logs the loss with SW_STORE_WRITE_FAILED and counts it', async () => {
      const s = await backend.open();
      try {
        s.store.append(makeEvent());
        await s.store.flush();
        await s.setDiskFull(true);
        for (let i = 0; i < 25; i++) s.store.append(makeEvent());
        await s.store.stop();
        assert.ok(s.logs.some((l) => l.code === ERROR_CODES.STORE_WRITE_FAILED && l.lost === 25), JSON.stringify(s.logs));
        assert.equal(await counterValue(s.metrics.storeDropped), 25);
      } finally {
        await s.close();
      }
    });
  });
}
