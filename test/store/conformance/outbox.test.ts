// Conformance: the webhook outbox. Rows are enqueued in the batch transaction (one per stored event, local or
// peer); a second claimer on its own connection sees the same rows, and ack (delete), retry, dead, trim and purge
// made by either are what the other reads next.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HoneypotEvent } from '../../../src/events/event.js';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

for (const backend of BACKENDS) {
  describe(`conformance webhook outbox: ${backend.name}`, { timeout: 30_000 }, () => {
    test('one row per stored event, oldest first, body is the event; paging by id returns each row once', async () => {
      const s = await backend.open({ webhookOutbox: true });
      try {
        const events: HoneypotEvent[] = [];
        for (let b = 0; b < 3; b++) {
          for (let i = 0; i < 40; i++) {
            const e = makeEvent({ sourceIp: `198.51.100.${i}`, userAgent: `ü-${b}-${i}`, ...(i % 10 === 0 ? { origin: 'peer' as const, originPeerId: 'p', peerEnvelope: '{}' } : {}) });
            events.push(e);
            s.store.append(e);
          }
          await s.store.flush();
        }
        const ob = s.store.webhookOutbox();
        assert.deepEqual(ob.counts(), { pending: 120, dead: 0 });
        const got: string[] = [];
        for (let after = 0; ;) {
          const rows = ob.pending(after, 7);
          if (rows.length === 0) break;
          for (const r of rows) {
            assert.ok(r.outbox_id > after);
            assert.equal(r.attempts, 0);
            const body = JSON.parse(r.body) as Record<string, unknown>;
            assert.equal(body.event_uuid, r.event_uuid);
            got.push(r.event_uuid);
          }
          after = rows[rows.length - 1]!.outbox_id;
        }
        assert.deepEqual(got, events.map((e) => e.eventUuid));
        const byUuid = new Map(events.map((e) => [e.eventUuid, e]));
        const first = JSON.parse(ob.pending(0, 1)[0]!.body) as Record<string, unknown>;
        assert.equal(first.sip_user_agent, byUuid.get(first.event_uuid as string)!.userAgent);
      } finally {
        await s.close();
      }
    });

    test('two claimers: ack, retry and dead by one are seen by the other; every row ends delivered or dead exactly once', async () => {
      const s = await backend.open({ webhookOutbox: true });
      try {
        const n = 60;
        for (let i = 0; i < n; i++) s.store.append(makeEvent({ sourceIp: `203.0.113.${i}` }));
        await s.store.flush();
        const a = s.store.webhookOutbox();
        const b = s.openOutbox();
        // The claimers split the rows by id parity (the interface has no claim of its own: see the report).
        const delivered = new Map<string, string>();
        const dead = new Set<string>();
        const attempts = new Map<number, number>();
        const nowUs = Date.now() * 1000;
        for (let round = 0; round < 6; round++) {
          for (const [name, ob, parity] of [['a', a, 0], ['b', b, 1]] as const) {
            const rows = ob.pending(0, 1000).filter((r) => r.outbox_id % 2 === parity);
            const ack: number[] = [];
            for (const r of rows) {
              assert.equal(r.attempts, attempts.get(r.outbox_id) ?? 0, 'attempts survive across claimers');
              const k = r.outbox_id % 5;
              if (k === 0 && r.attempts < 2) {
                ob.retryLater(r.outbox_id, r.attempts + 1, nowUs + 1, 'HTTP 503 ü');
                attempts.set(r.outbox_id, r.attempts + 1);
              } else if (k === 1) {
                ob.markDead(r.outbox_id, r.attempts + 1, nowUs, 'HTTP 400');
                assert.ok(!dead.has(r.event_uuid));
                dead.add(r.event_uuid);
              } else {
                assert.ok(!delivered.has(r.event_uuid), `${r.event_uuid} delivered twice`);
                delivered.set(r.event_uuid, name);
                ack.push(r.outbox_id);
              }
            }
            ob.deleteDelivered(ack);
          }
        }
        assert.deepEqual(a.counts(), { pending: 0, dead: dead.size });
        assert.deepEqual(b.counts(), { pending: 0, dead: dead.size });
        assert.equal(delivered.size + dead.size, n);
        assert.ok(new Set(delivered.values()).size === 2, 'both claimers delivered');
        // Dead rows are kept until purged by either claimer.
        b.purgeDeadBefore(nowUs);
        assert.deepEqual(a.counts(), { pending: 0, dead: dead.size });
        b.purgeDeadBefore(nowUs + 1);
        assert.deepEqual(a.counts(), { pending: 0, dead: 0 });
      } finally {
        await s.close();
      }
    });

    test('trimming the backlog drops the oldest pending rows only, never dead ones', async () => {
      const s = await backend.open({ webhookOutbox: true });
      try {
        for (let i = 0; i < 10; i++) s.store.append(makeEvent());
        await s.store.flush();
        const ob = s.openOutbox();
        const rows = ob.pending(0, 100);
        ob.markDead(rows[0]!.outbox_id, 1, 1, 'gone');
        assert.equal(ob.trimOldestPending(3), 3);
        assert.deepEqual(ob.pending(0, 100).map((r) => r.outbox_id), rows.slice(4).map((r) => r.outbox_id));
        assert.deepEqual(s.store.webhookOutbox().counts(), { pending: 6, dead: 1 });
        assert.equal(ob.trimOldestPending(100), 6);
        assert.deepEqual(ob.counts(), { pending: 0, dead: 1 });
      } finally {
        await s.close();
      }
    });

    test('no outbox rows unless enabled', async () => {
      const s = await backend.open();
      try {
        s.store.append(makeEvent());
        await s.store.flush();
        assert.deepEqual(s.store.webhookOutbox().counts(), { pending: 0, dead: 0 });
      } finally {
        await s.close();
      }
    });
  });
}
