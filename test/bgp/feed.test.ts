/**
 * The feed process's logic over a real stream server (the API's stream route on a real socket, over a block set
 * the test drives) and ExaBGP's pipes as in-memory streams: first full set after `clear adj-rib out`, changes as
 * batched announce/withdraw, malformed ExaBGP answers ignored and counted, a session coming up resent, the API
 * going away withdrawing nothing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createBgpFeed } from '../../src/bgp/feed.js';
import { apiStreamSource } from '../../src/bgp/source.js';
import { waitFor } from '../helpers/daemon.js';
import { add, fakeSet, serve } from './stream-fixture.js';

describe('bgp-feed process logic', () => {
  test('full set, changes, ExaBGP answers, session up, API gone', async () => {
    const set = fakeSet();
    set.push([add('8.8.8.8'), add('10.0.0.1'), add('2a00:1450::1')]);
    let server = await serve(set);
    const port = server.port;
    const input = new PassThrough();
    const output = new PassThrough();
    let written = '';
    // A stand-in for ExaBGP's reader: acknowledges each command with `done` while `acking` is on.
    let acking = true;
    output.on('data', (d: Buffer) => {
      written += d.toString();
      const lines = d.toString().split('\n').filter(Boolean);
      if (acking) input.write('done\n'.repeat(lines.length));
    });
    const logs: string[] = [];
    const feed = await createBgpFeed({
      source: apiStreamSource({ url: `http://127.0.0.1:${port}`, token: null, minBackoffMs: 100 }), input, output, log: (l) => logs.push(l),
      settings: { nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: true, aggregateMin: 0, maxRoutes: 1000, allowPrefixes: [] },
    });
    try {
      await waitFor(() => written.includes('2a00:1450::1/128'), 5000);
      const first = written.trim().split('\n');
      assert.equal(first[0], 'clear adj-rib out');
      assert.deepEqual(first.slice(1), [
        'announce attributes next-hop 192.0.2.1 community [65535:666 no-export] nlri 8.8.8.8/32',
        'announce attributes next-hop 100::1 community [65535:666 no-export] nlri 2a00:1450::1/128',
      ]);
      assert.equal((await feed.metrics.refusals.get()).values.find((v) => v.labels.reason === 'special_purpose')?.value, 1);

      written = '';
      set.push([add('9.9.9.9'), add('8.8.8.8', 'remove')]);
      await waitFor(() => written.includes('9.9.9.9'), 5000);
      assert.deepEqual(written.trim().split('\n'), [
        'withdraw attributes next-hop 192.0.2.1 nlri 8.8.8.8/32',
        'announce attributes next-hop 192.0.2.1 community [65535:666 no-export] nlri 9.9.9.9/32',
      ]);
      await feed.idle();

      // ExaBGP's answers, including garbage and an error, and a session coming up.
      acking = false;
      input.write('error\n\u0000\u001b[31mgarbage\nneighbor 203.0.113.2 connected\nshutdown 12 1\n');
      written = '';
      input.write('neighbor 203.0.113.2 up\n');
      await waitFor(() => written.split('\n').filter(Boolean).length === 2, 5000);
      assert.ok(written.includes('9.9.9.9/32') && written.includes('2a00:1450::1/128'));
      const answers = (await feed.metrics.exabgpAnswers.get()).values;
      const count = (k: string): number => answers.find((v) => v.labels.kind === k)?.value ?? 0;
      assert.equal(count('done'), 5);
      assert.equal(count('error'), 1);
      assert.equal(count('unknown'), 1);
      assert.equal(count('shutdown'), 1);
      assert.equal(count('neighbor_up'), 1);
      assert.ok(logs.some((l) => l.includes('unexpected line') && l.includes('garbage')));
      input.write('done\ndone\n');
      await feed.idle();
      acking = true;

      // The API goes away: nothing is withdrawn; changes made meanwhile arrive on resume.
      written = '';
      await server.close();
      await new Promise((r) => setTimeout(r, 500));
      set.push([add('1.1.1.1'), add('9.9.9.9', 'remove')]);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(written, '');
      assert.equal(feed.held().size, 2);
      server = await serve(set, port);
      await waitFor(() => written.includes('1.1.1.1'), 10_000);
      assert.deepEqual(written.trim().split('\n'), [
        'withdraw attributes next-hop 192.0.2.1 nlri 9.9.9.9/32',
        'announce attributes next-hop 192.0.2.1 community [65535:666 no-export] nlri 1.1.1.1/32',
      ]);
      assert.deepEqual([...feed.held().keys()].sort(), ['1.1.1.1/32', '2a00:1450::1/128']);
      assert.ok(logs.some((l) => l.includes('keeping the 2 routes')));
    } finally {
      input.end();
      await feed.done;
      await feed.stop();
      await server.close();
    }
  });
});
