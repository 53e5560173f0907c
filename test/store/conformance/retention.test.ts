// Conformance: retention deletes events older than the configured days with their credentials and peer records;
// the aggregates keep their all-time counts and first/last seen (as documented in docs/STORE.md).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rfc3339 } from '../../../src/text/time.js';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

const DAY_US = 86_400_000_000;
const auth = {
  header: 'Authorization' as const, scheme: 'Digest', username: 'u', realm: null, nonce: null, uri: null, response: null,
  algorithm: null, qop: null, nc: null, cnonce: null, opaque: null, password: null, passwordSource: null, passwordVerified: null,
};

for (const backend of BACKENDS) {
  describe(`conformance retention: ${backend.name}`, { timeout: 30_000 }, () => {
    test('old events go with their credentials and peer records; recent ones and the aggregates stay', async () => {
      const s = await backend.open({ retentionDays: 2 });
      try {
        const now = Date.now() * 1000;
        const ip = '198.51.100.44';
        const old = Array.from({ length: 1200 }, (_, i) => makeEvent({
          sourceIp: ip, eventTimeUs: now - 5 * DAY_US + i, auth: i % 100 === 0 ? auth : null,
          ...(i % 200 === 0 ? { origin: 'peer' as const, originPeerId: 'p', peerEnvelope: `{"old":${i}}` } : {}),
        }));
        const edge = makeEvent({ sourceIp: ip, eventTimeUs: now - 2 * DAY_US + 60_000_000 }); // a minute inside
        const recent = Array.from({ length: 30 }, (_, i) => makeEvent({
          sourceIp: ip, eventTimeUs: now - 1000 + i, auth, origin: 'peer', originPeerId: 'p', peerEnvelope: `{"new":${i}}`,
        }));
        for (const e of [...old, edge, ...recent]) s.store.append(e);
        await s.store.flush();
        assert.equal(await s.runRetention(), old.length);
        assert.equal(await s.runRetention(), 0, 'a second pass finds nothing');

        const kept = s.reader.events({ order: 'asc', limit: 1000 }).items.map((i) => i.event_uuid);
        assert.deepEqual(kept, [edge, ...recent].map((e) => e.eventUuid));
        assert.deepEqual(
          s.reader.credentials({ limit: 1000 }).items.map((i) => i.event_uuid).sort(),
          recent.map((e) => e.eventUuid).sort(),
        );
        assert.deepEqual(s.store.peerRecords().pager.chunk(0, 1000).map((r) => r.envelope), recent.map((_, i) => `{"new":${i}}`));
        assert.equal(s.store.hasEvent(old[0]!.eventUuid), false);
        assert.equal(s.store.hasEvent(edge.eventUuid), true);

        const [agg] = s.reader.ipAddresses({ details: false, limit: 10, source: { ip } }).items;
        assert.equal(agg?.count, old.length + 1 + recent.length);
        assert.equal(agg?.first_seen, rfc3339(old[0]!.eventTimeUs));
        const totals = (s.reader.stats(1, now) as { totals: Record<string, number> }).totals;
        assert.equal(totals.events, old.length + 1 + recent.length);
        assert.equal(totals.events_stored, 1 + recent.length);
      } finally {
        await s.close();
      }
    });

    test('retention off: nothing is deleted', async () => {
      const s = await backend.open();
      try {
        s.store.append(makeEvent({ eventTimeUs: 1 }));
        await s.store.flush();
        assert.equal(await s.runRetention(), 0);
        assert.equal(s.reader.events({ order: 'asc', limit: 10 }).items.length, 1);
      } finally {
        await s.close();
      }
    });
  });
}
