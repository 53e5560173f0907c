// The store's typed webhook outbox: rows written by the store's writer once enabled (in the batch transaction
// when enabled before start, right after each commit when enabled later), read and changed only through
// WebhookOutbox — on the store's connection and on a delivery thread's own (openWebhookOutbox).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWebhookOutbox } from '../../src/store/outbox.js';
import { makeEvent, openStore, tempDir } from './helpers.js';

const tmp = tempDir('sipwarden-outbox-');
test.after(() => tmp.cleanup());

for (const writer of ['worker', 'main'] as const) {
  test(`outbox rows for every stored event, enabled before start (${writer} writer)`, async () => {
    const path = join(tmp.dir, `before-${writer}.db`);
    const { store } = openStore(path, { writer, batchMaxDelayMs: 5 });
    assert.equal(store.enableWebhookOutbox(), true);
    await store.start();
    try {
      const events = Array.from({ length: 5 }, (_, i) => makeEvent({ sourceIp: `198.51.100.${i + 1}` }));
      for (const e of events) store.append(e);
      await store.flush();
      const ob = store.webhookOutbox();
      assert.deepEqual(ob.counts(), { pending: 5, dead: 0 });
      const rows = ob.pending(0, 10);
      assert.deepEqual(rows.map((r) => r.event_uuid), events.map((e) => e.eventUuid));
      assert.equal(JSON.parse(rows[0]!.body).event_uuid, events[0]!.eventUuid);

      // A delivery thread's own connection sees and changes the same rows.
      const other = openWebhookOutbox(path);
      try {
        other.deleteDelivered([rows[0]!.outbox_id]);
        other.retryLater(rows[1]!.outbox_id, 1, Date.now() * 1000 + 1e6, 'HTTP 503');
        other.markDead(rows[2]!.outbox_id, 2, 1, 'HTTP 400');
        assert.equal(other.trimOldestPending(1), 1);
      } finally {
        other.close();
      }
      assert.deepEqual(ob.counts(), { pending: 2, dead: 1 });
      ob.purgeDeadBefore(2);
      assert.deepEqual(ob.counts(), { pending: 2, dead: 0 });
      assert.deepEqual(ob.pending(0, 10).map((r) => r.event_uuid), [events[3]!.eventUuid, events[4]!.eventUuid]);
    } finally {
      await store.stop();
    }
  });
}

test('outbox enabled after start with the worker writer: rows written right after each commit', async () => {
  const { store } = openStore(join(tmp.dir, 'after.db'), { writer: 'worker', batchMaxDelayMs: 5 });
  await store.start();
  try {
    assert.equal(store.enableWebhookOutbox(), false);
    assert.equal(store.enableWebhookOutbox(), false); // idempotent: still one row per event
    for (let i = 0; i < 3; i++) store.append(makeEvent());
    await store.flush();
    assert.equal(store.webhookOutbox().counts().pending, 3);
  } finally {
    await store.stop();
  }
});

test('no outbox rows unless enabled', async () => {
  const { store } = openStore(join(tmp.dir, 'off.db'), { writer: 'worker', batchMaxDelayMs: 5 });
  await store.start();
  try {
    store.append(makeEvent());
    await store.flush();
    assert.deepEqual(store.webhookOutbox().counts(), { pending: 0, dead: 0 });
  } finally {
    await store.stop();
  }
});
