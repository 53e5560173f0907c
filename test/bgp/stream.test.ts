/**
 * The block-set stream at the feed's scale, over a real socket: a snapshot of 100,000 entries reaches the feed's
 * stream client whole (it used to be cut off by the slow-reader bound, so the feed never got a snapshot); a reader
 * that stops reading live changes is cut off at the bound and resumes with Last-Event-ID without losing any.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createStreamClient, type StreamEntry } from '../../src/bgp/stream-client.js';
import { waitFor } from '../helpers/daemon.js';
import { add, fakeSet, serve } from './stream-fixture.js';

const ip = (i: number): string => `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

describe('block-set stream at feed scale', { timeout: 180_000 }, () => {
  test('a snapshot of 100,000 entries (over 8 MiB of text) arrives whole, once', async () => {
    const set = fakeSet();
    set.push(Array.from({ length: 100_000 }, (_, i) => add(ip(i))));
    const server = await serve(set);
    const snapshots: StreamEntry[][] = [];
    const drops: string[] = [];
    const client = createStreamClient({
      url: `http://127.0.0.1:${server.port}`, token: null, minBackoffMs: 100,
      handlers: { snapshot: (e) => snapshots.push(e), changes: () => {}, state: (up, err) => void (up || drops.push(err ?? '')) },
    });
    await client.start();
    try {
      await waitFor(() => snapshots.length > 0, 120_000, 100);
      assert.equal(snapshots[0]!.length, 100_000);
      assert.equal(new Set(snapshots[0]!.map((e) => e.ip)).size, 100_000);
      assert.deepEqual(drops, []);
      assert.equal(client.lastSeq, set.seq);
      // Changes made after the snapshot follow on the same connection.
      set.push([add('9.9.9.9')]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(snapshots.length, 1);
    } finally {
      await client.stop();
      await server.close();
    }
  });

  test('a reader that stops reading is cut off at the bound, and resumes with Last-Event-ID losing nothing', async () => {
    const set = fakeSet();
    set.push([add('8.8.8.8')]);
    const maxBuffer = 64 * 1024;
    const server = await serve(set, 0, maxBuffer);
    try {
      const seen: number[] = [];
      let ended = false;
      let text = '';
      let snapshotEnd = false;
      const req = request({ host: '127.0.0.1', port: server.port, path: '/api/v1/blocklist/stream' });
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        req.on('response', resolve);
        req.on('error', reject);
        req.end();
      });
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        let i: number;
        while ((i = text.indexOf('\n\n')) >= 0) {
          if (/^event: snapshot-end$/m.test(text.slice(0, i))) snapshotEnd = true;
          const m = /^id: (\d+)$/m.exec(text.slice(0, i));
          if (m && /^event: add$/m.test(text.slice(0, i))) seen.push(Number(m[1]));
          text = text.slice(i + 2);
        }
      });
      res.on('end', () => (ended = true));
      res.on('close', () => (ended = true));
      res.on('error', () => (ended = true));
      await waitFor(() => (snapshotEnd ? true : null), 10_000);
      res.pause();
      // Far more than the bound plus what the kernel's socket buffers can hold (about 40 MB of events).
      const first = set.seq + 1;
      for (let b = 0; b < 200; b++) set.push(Array.from({ length: 1_000 }, (_, i) => add(ip(b * 1_000 + i))));
      const last = set.seq;
      res.resume();
      await waitFor(() => (ended ? true : null), 60_000, 50);
      assert.ok(seen.length > 0 && seen.length < last - first + 1, `cut off after ${seen.length} of ${last - first + 1}`);
      assert.deepEqual(seen, Array.from({ length: seen.length }, (_, i) => first + i), 'in order, no gap');

      // Resume from the last id seen: exactly the rest, no snapshot.
      const rest: number[] = [];
      let snapshot = false;
      const resume = request({ host: '127.0.0.1', port: server.port, path: '/api/v1/blocklist/stream', headers: { 'last-event-id': String(seen.at(-1)) } });
      const r2 = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        resume.on('response', resolve);
        resume.on('error', reject);
        resume.end();
      });
      r2.setEncoding('utf8');
      let t2 = '';
      r2.on('data', (d: string) => {
        t2 += d;
        let i: number;
        while ((i = t2.indexOf('\n\n')) >= 0) {
          const block = t2.slice(0, i);
          if (/^event: snapshot/m.test(block)) snapshot = true;
          const m = /^id: (\d+)$/m.exec(block);
          if (m && /^event: add$/m.test(block)) rest.push(Number(m[1]));
          t2 = t2.slice(i + 2);
        }
      });
      await waitFor(() => (rest.at(-1) === last ? true : null), 60_000, 50);
      resume.destroy();
      assert.equal(snapshot, false);
      assert.deepEqual([...seen, ...rest], Array.from({ length: last - first + 1 }, (_, i) => first + i));
    } finally {
      await server.close();
    }
  });
});
