// a failing database (here: "disk full" via PRAGMA max_page_count) never throws to callers and never
// stops capture; batches are retried with backoff, the backlog is bounded and drops are counted.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { counterValue, makeEvent, openStore, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

for (const writer of ['worker', 'main'] as const) {
  describe(`store write failures (${writer} writer)`, { timeout: 60_000 }, () => {
    test('disk full: append never throws, backlog bounded, drops counted, later events stored once the condition clears', async () => {
      const path = join(tmp.dir, `full-${writer}.db`);
      const { store, metrics } = openStore(path, { writer, maxBacklog: 2000 });
      await store.start();
      try {
        for (let i = 0; i < 10; i++) store.append(makeEvent());
        await store.flush();
        const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
        await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
        const loop = monitorEventLoopDelay({ resolution: 5 });
        loop.enable();
        for (let i = 0; i < 3000; i++) assert.doesNotThrow(() => store.append(makeEvent({ sourceIp: '192.0.2.200' })));
        // The first failing batch is reported (polled: the machine may be loaded).
        for (const t0 = Date.now(); (await counterValue(metrics.storeWriteErrors)) < 1 && Date.now() - t0 < 10_000;) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const errors = await counterValue(metrics.storeWriteErrors);
        assert.ok(errors >= 1, 'write errors not counted');
        assert.equal(await counterValue(metrics.storeDropped), 1000);
        assert.equal(store.queueDepth, 2000);
        loop.disable();
        // Capture keeps running: failed batches must not stall the event loop.
        assert.ok(loop.max / 1e6 < 200, `event loop stalled ${loop.max / 1e6} ms`);
        // The condition clears (space freed): the retried batches commit, nothing else lost.
        await store.writerPragma('max_page_count = 1073741823');
        await store.flush();
        store.append(makeEvent({ sourceIp: '192.0.2.201' }));
        await store.flush();
        assert.equal(await counterValue(metrics.storeDropped), 1000);
        const c = (store.db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c;
        assert.equal(c, 10 + 2000 + 1);
        // Rows were shed, counts were not: the 1,000 events without rows are still counted for their source.
        const ip = store.db.prepare("SELECT event_count FROM ip_stats WHERE ip = '192.0.2.200'").get() as { event_count: number };
        assert.equal(ip.event_count, 3000);
      } finally {
        await store.stop();
      }
    });

    test('the backlog is bounded in bytes too: a flood of 60 KB messages during an outage cannot exhaust memory', async () => {
      const path = join(tmp.dir, `bytes-${writer}.db`);
      // The default bound (32 MiB), not a test-sized one: 200,000 events of 60 KB would be 12 GB.
      const { store, metrics } = openStore(path, { writer });
      await store.start();
      try {
        store.append(makeEvent());
        await store.flush();
        const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
        await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
        const big = 'x'.repeat(60_000);
        for (let i = 0; i < 3000; i++) store.append(makeEvent({ sipMessage: big, sourceIp: '192.0.2.210' }));
        const each = 512 + 60_000 + 'friendly-scanner'.length;
        const fits = Math.floor((32 * 1024 * 1024) / each);
        assert.ok(Math.abs(store.queueDepth - fits) <= 1, `queued ${store.queueDepth}, expected ≈ ${fits}`);
        assert.equal(await counterValue(metrics.storeDropped), 3000 - store.queueDepth);
        const held = store.queueDepth;
        await store.writerPragma('max_page_count = 1073741823');
        await store.flush();
        // Once committed, the bound frees up again.
        store.append(makeEvent({ sipMessage: big, sourceIp: '192.0.2.210' }));
        await store.flush();
        const c = (store.db.prepare("SELECT COUNT(*) AS c FROM honey WHERE source_ip = '192.0.2.210'").get() as { c: number }).c;
        assert.equal(c, held + 1);
      } finally {
        await store.stop();
      }
    });

    test('stop() while the database keeps failing gives up within its timeout and counts the loss', async () => {
      const path = join(tmp.dir, `stuck-${writer}.db`);
      const { store, metrics } = openStore(path, { writer, stopTimeoutMs: 600 });
      await store.start();
      store.append(makeEvent());
      await store.flush();
      const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
      await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
      for (let i = 0; i < 1500; i++) store.append(makeEvent());
      const t0 = Date.now();
      await store.stop();
      assert.ok(Date.now() - t0 < 3000, `stop took ${Date.now() - t0} ms`);
      assert.equal(await counterValue(metrics.storeDropped), 1500);
      const db = new Database(path, { readonly: true });
      assert.equal((db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 1);
      db.close();
    });
  });
}
