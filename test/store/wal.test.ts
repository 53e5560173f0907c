/**
 * Out of space (issue 11, defect 6): a batch that fails for lack of space makes the writer checkpoint the WAL and
 * truncate it to zero bytes, so the space it held goes back to the disk instead of being eaten at once; readers
 * holding a snapshot make it partial, never a wait.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isOutOfSpace, releaseWal } from '../../src/store/wal.js';
import { counterValue, makeEvent, openStore, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const walSize = (p: string): number => (existsSync(p + '-wal') ? statSync(p + '-wal').size : 0);

describe('WAL released on out-of-space failures', { timeout: 60_000 }, () => {
  test('isOutOfSpace: SQLITE_FULL and I/O errors only', () => {
    assert.ok(isOutOfSpace(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })));
    assert.ok(isOutOfSpace({ code: 'SQLITE_IOERR_WRITE' }));
    assert.ok(!isOutOfSpace({ code: 'SQLITE_BUSY' }));
    assert.ok(!isOutOfSpace({ code: 'SQLITE_CONSTRAINT_UNIQUE' }));
    assert.ok(!isOutOfSpace(null));
    assert.ok(!isOutOfSpace(new Error('x')));
  });

  test('releaseWal truncates the WAL; with a reader holding a snapshot it returns at once (busy), and keeps busy_timeout', () => {
    const path = join(tmp.dir, 'release.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (x TEXT)');
    const ins = db.prepare('INSERT INTO t VALUES (?)');
    db.transaction(() => { for (let i = 0; i < 2000; i++) ins.run('y'.repeat(500)); })();
    assert.ok(walSize(path) > 500_000, `WAL ${walSize(path)}`);
    // A reader in the middle of a read transaction: the checkpoint cannot finish, and must not wait 5 s for it.
    const reader = new Database(path, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT COUNT(*) FROM t').get();
    db.transaction(() => { for (let i = 0; i < 10; i++) ins.run('z'); })();
    const t0 = Date.now();
    const busy = releaseWal(db);
    assert.ok(Date.now() - t0 < 1000, 'did not wait for the reader');
    assert.equal(busy?.busy, 1);
    reader.exec('COMMIT');
    reader.close();
    const r = releaseWal(db);
    assert.deepEqual(r && { busy: r.busy, log: r.log }, { busy: 0, log: 0 });
    assert.equal(walSize(path), 0);
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal((db.prepare('SELECT COUNT(*) AS c FROM t').get() as { c: number }).c, 2010);
    db.close();
  });

  for (const writer of ['worker', 'main'] as const) {
    test(`${writer} writer: a batch failing with SQLITE_FULL leaves a zero-byte WAL; the retry commits later`, async () => {
      const path = join(tmp.dir, `full-${writer}.db`);
      const { store, metrics } = openStore(path, { writer, batchMaxDelayMs: 20 });
      await store.start();
      try {
        for (let i = 0; i < 500; i++) store.append(makeEvent({ sipMessage: 'm'.repeat(1000) }));
        await store.flush();
        assert.ok(walSize(path) > 100_000, `WAL before: ${walSize(path)}`);
        const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
        await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
        for (let i = 0; i < 200; i++) store.append(makeEvent({ sipMessage: 'n'.repeat(1000) }));
        for (const t0 = Date.now(); (await counterValue(metrics.storeWriteErrors)) < 1 && Date.now() - t0 < 10_000;) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok((await counterValue(metrics.storeWriteErrors)) >= 1, 'the batch failed');
        assert.equal(walSize(path), 0, 'WAL checkpointed and truncated after the failure');
        // The queue-depth gauge is current while writes fail.
        for (let i = 0; i < 50; i++) store.append(makeEvent());
        assert.equal((await metrics.storeQueueDepth.get()).values[0]!.value, 250);
        await store.writerPragma('max_page_count = 1073741823');
        await store.flush();
        assert.equal((store.db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 750);
        assert.equal((await metrics.storeQueueDepth.get()).values[0]!.value, 0);
      } finally {
        await store.stop();
      }
    });
  }
});
