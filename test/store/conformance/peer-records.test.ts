// Conformance: peer records (signed envelopes kept for catch-up) are de-duplicated by event uuid whoever writes
// them (the batch writer for peer events, P2P for our own), read back in insertion order, and peers' cursors are
// upserted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

for (const backend of BACKENDS) {
  describe(`conformance peer records: ${backend.name}`, { timeout: 30_000 }, () => {
    test('duplicates by event uuid are ignored, in one batch, across batches and across writers', async () => {
      const s = await backend.open();
      try {
        const peer = (n: number, env: string) => makeEvent({ origin: 'peer', originPeerId: '12D3KooWA', peerEnvelope: env, sourceIp: `192.0.2.${n}` });
        const a = peer(1, '{"a":1}');
        const b = peer(2, '{"b":"ü"}');
        s.store.append(a);
        s.store.append({ ...a, peerEnvelope: '{"a":"dup in batch"}' });
        s.store.append(b);
        await s.store.flush();
        s.store.append({ ...b, peerEnvelope: '{"b":"dup next batch"}' });
        await s.store.flush();
        const pr = s.store.peerRecords();
        const own = makeEvent();
        pr.insertOwn([
          [own.eventUuid, 'self', '{"own":1}', 10],
          [own.eventUuid, 'self', '{"own":"dup"}', 11],
          [a.eventUuid, 'self', '{"a":"dup from p2p"}', 12],
        ]);
        pr.insertOwn([[own.eventUuid, 'self', '{"own":"dup again"}', 13]]);
        const recs = pr.pager.chunk(0, 100);
        assert.deepEqual(recs.map((r) => r.envelope), ['{"a":1}', '{"b":"ü"}', '{"own":1}']);
        assert.ok(recs[0]!.record_id < recs[1]!.record_id && recs[1]!.record_id < recs[2]!.record_id);
        // Paging continues after a record id and stops at the end.
        assert.deepEqual(pr.pager.chunk(recs[0]!.record_id, 1).map((r) => r.envelope), ['{"b":"ü"}']);
        assert.deepEqual(pr.pager.chunk(recs[2]!.record_id, 10), []);
        // Local events carry no envelope: no record.
        s.store.append(makeEvent());
        await s.store.flush();
        assert.equal(pr.pager.chunk(0, 100).length, 3);
      } finally {
        await s.close();
      }
    });

    test('cursorAt finds the first record received at or after a time; peer cursors are upserted', async () => {
      const s = await backend.open();
      try {
        const pr = s.store.peerRecords();
        const rows: Array<[string, string, string, number]> = Array.from({ length: 50 }, (_, i) => [makeEvent().eventUuid, 'self', `{"i":${i}}`, 1000 + i * 10]);
        pr.insertOwn(rows);
        const all = pr.pager.chunk(0, 100);
        assert.equal(all.length, 50);
        assert.equal(pr.pager.cursorAt(0), 0);
        assert.deepEqual(pr.pager.chunk(pr.pager.cursorAt(1255), 1).map((r) => r.envelope), ['{"i":26}']);
        assert.deepEqual(pr.pager.chunk(pr.pager.cursorAt(1250), 1).map((r) => r.envelope), ['{"i":25}']);
        assert.deepEqual(pr.pager.chunk(pr.pager.cursorAt(99_999), 1), []);

        assert.equal(pr.cursor('peerX'), null);
        pr.setCursor('peerX', 'c1', 1);
        pr.setCursor('peerY', 'y', 1);
        pr.setCursor('peerX', 'c2 ü', 2);
        assert.equal(pr.cursor('peerX'), 'c2 ü');
        assert.equal(pr.cursor('peerY'), 'y');
      } finally {
        await s.close();
      }
    });
  });
}
