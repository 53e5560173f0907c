/**
 * The feed in the node: the feed socket server over a block set the test drives, the relay
 * (`bgp-feed --socket`) on a real unix socket, and ExaBGP's pipes as in-memory streams. A relay connection is a
 * feed start (out-table cleared, full set); changes follow from the block set directly; a relay that goes and
 * comes back is a restart; a node that goes away leaves ExaBGP's routes alone until it is back. Also the pure
 * parts: line framing, backoff, the mode a command line selects, the socket path checks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { FeedMetrics } from '../../src/bgp/feed.js';
import { LineBuffer, nextBackoff, startRelay } from '../../src/bgp/relay.js';
import { checkFeedSocketPath, createFeedSocketServer, SOCKET_PATH_MAX } from '../../src/bgp/socket-server.js';
import { feedMode, splitFeedArgs } from '../../src/cli/bgp-feed.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { spawn } from 'node:child_process';
import { MAIN, cleanup, tempDir, waitFor } from '../helpers/daemon.js';
import { add, fakeSet } from './stream-fixture.js';

const SETTINGS = { nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: false, aggregateMin: 0, maxRoutes: 1000, allowPrefixes: [] };

describe('relay line framing and backoff', () => {
  test('whole lines only, however the text is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9 ]{0,12}$/), { maxLength: 8 }), fc.array(fc.nat(200), { maxLength: 10 }), fc.boolean(), (lines, cuts, unfinished) => {
        const text = lines.map((l) => l + '\n').join('') + (unfinished ? 'half' : '');
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const b = new LineBuffer();
        let out = '';
        let from = 0;
        for (const c of [...at, text.length]) {
          const got = b.push(text.slice(from, c));
          assert.ok(got === '' || got.endsWith('\n'));
          out += got;
          from = c;
        }
        assert.equal(out, lines.map((l) => l + '\n').join(''));
        assert.equal(b.pending, unfinished ? 4 : 0);
        b.reset();
        assert.equal(b.push('x\n'), 'x\n');
      }),
      { numRuns: 300 },
    );
  });
  test('backoff doubles up to the cap', () => {
    const seen: number[] = [];
    let d = 250;
    for (let i = 0; i < 8; i++) seen.push((d = nextBackoff(d, 250, 5000)));
    assert.deepEqual(seen, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });
});

describe('bgp-feed command line', () => {
  const where = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.where;
    }
    assert.fail('no error');
  };
  test('--socket takes a path, relative to the working directory', () => {
    assert.deepEqual(splitFeedArgs(['--socket', 'run/f.sock', '-v'], '/srv'), { apiUrl: null, socket: '/srv/run/f.sock', rest: ['-v'] });
    assert.equal(splitFeedArgs(['--socket=/run/s/f.sock']).socket, '/run/s/f.sock');
  });
  test('--socket without its argument, empty, or with --api: one error naming --socket', () => {
    assert.equal(where(() => splitFeedArgs(['--socket'])), '--socket');
    assert.equal(where(() => splitFeedArgs(['--socket', '--bgp-max-routes', '5'])), '--socket');
    assert.equal(where(() => splitFeedArgs(['--socket='])), '--socket');
    assert.equal(where(() => splitFeedArgs(['--socket', '/x.sock', '--api', 'http://127.0.0.1:1'])), '--socket');
  });
  test('mode: --socket, else --api, else the configuration\'s feed socket, else its API', () => {
    const cfg = { bgpFeedSocket: '/run/cfg.sock', apiListen: [{ ip: '0.0.0.0', port: 8082 }] };
    assert.deepEqual(feedMode(cfg, { socket: '/a.sock', apiUrl: null }), { socket: '/a.sock' });
    assert.deepEqual(feedMode(cfg, { socket: null, apiUrl: 'http://h:1' }), { apiUrl: 'http://h:1' });
    assert.deepEqual(feedMode(cfg, { socket: null, apiUrl: null }), { socket: '/run/cfg.sock' });
    assert.deepEqual(feedMode({ ...cfg, bgpFeedSocket: null }, { socket: null, apiUrl: null }), { apiUrl: 'http://127.0.0.1:8082' });
  });
});

describe('feed socket path checks', () => {
  test('too long, missing directory, a file in the way: one ConfigError naming --bgp-feed-socket', () => {
    const dir = tempDir('sipwarden-bgpsock-');
    try {
      const bad = (p: string, re: RegExp): void => {
        assert.throws(() => checkFeedSocketPath(p), (err: unknown) => err instanceof ConfigError && err.where === '--bgp-feed-socket' && re.test(err.reason));
      };
      bad('/' + 'x'.repeat(SOCKET_PATH_MAX), /longer than 107 bytes/);
      bad(join(dir, 'missing', 'f.sock'), /ENOENT/);
      writeFileSync(join(dir, 'file'), '');
      bad(join(dir, 'file', 'f.sock'), /ENOTDIR/);
      bad(join(dir, 'file'), /not a socket/);
      mkdirSync(join(dir, 'ok'));
      checkFeedSocketPath(join(dir, 'ok', 'f.sock'));
    } finally {
      cleanup(dir);
    }
  });
});

/** ExaBGP's side of a relay: its pipes, acknowledging each command with `done`. */
function exabgp(): { input: PassThrough; output: PassThrough; lines(): string[]; clear(): void } {
  const input = new PassThrough(); // ExaBGP → relay (its answers)
  const output = new PassThrough(); // relay → ExaBGP (commands)
  let text = '';
  output.on('data', (d: Buffer) => {
    text += d.toString();
    if (!input.writableEnded) input.write('done\n'.repeat(d.toString().split('\n').filter(Boolean).length));
  });
  return { input, output, lines: () => text.split('\n').filter(Boolean), clear: () => void (text = '') };
}

describe('feed in the node, through the relay', () => {
  test('start, changes, relay restart, node gone and back', async () => {
    const dir = tempDir('sipwarden-bgpsock-');
    const path = join(dir, 'feed.sock');
    const set = fakeSet();
    set.push([add('8.8.8.8'), add('10.0.0.1'), add('2a00:1450::1')]);
    const registry = new Registry();
    const metrics = new FeedMetrics(registry, 'node');
    const logger = createLogger('silent');
    const server = () => createFeedSocketServer({ path, blockSet: set, settings: SETTINGS, metrics, logger, feed: { coalesceMs: 5 } });
    let node = server();
    await node.start();
    const exa = exabgp();
    const logs: string[] = [];
    let relay = startRelay({ path, input: exa.input, output: exa.output, log: (l) => logs.push(l), minBackoffMs: 50, maxBackoffMs: 200 });
    const value = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
      const m = (await registry.getSingleMetric(name)!.get()).values;
      return m.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
    };
    try {
      await waitFor(() => exa.lines().some((l) => l.includes('2a00:1450::1/128')), 5000);
      assert.deepEqual(exa.lines(), [
        'clear adj-rib out',
        'announce attributes next-hop 192.0.2.1 community [65535:666] nlri 8.8.8.8/32',
        'announce attributes next-hop 100::1 community [65535:666] nlri 2a00:1450::1/128',
      ]);
      assert.equal(node.relays, 1);
      assert.equal(await value('sipwarden_bgp_feed_relays'), 1);
      assert.equal(await value('sipwarden_bgp_feed_restarts_total'), 1);
      assert.equal(await value('sipwarden_bgp_refusals_total', { reason: 'special_purpose' }), 1);

      // Changes come from the block set itself.
      exa.clear();
      set.push([add('9.9.9.9'), add('8.8.8.8', 'remove')]);
      await waitFor(() => exa.lines().length === 2, 5000);
      assert.deepEqual(exa.lines(), [
        'withdraw attributes next-hop 192.0.2.1 nlri 8.8.8.8/32',
        'announce attributes next-hop 192.0.2.1 community [65535:666] nlri 9.9.9.9/32',
      ]);
      assert.equal(await value('sipwarden_bgp_announcements_total', { family: '4' }), 2);
      assert.equal(await value('sipwarden_bgp_announcements_total', { family: '6' }), 1);
      assert.equal(await value('sipwarden_bgp_withdrawals_total', { family: '4' }), 1);
      assert.equal(await value('sipwarden_bgp_routes', { family: '4' }), 1);

      // ExaBGP restarts its process: the old relay ends with its stdin, a new one connects; a new feed starts.
      exa.input.end();
      await relay.done;
      await waitFor(() => node.relays === 0, 5000);
      const exa2 = exabgp();
      relay = startRelay({ path, input: exa2.input, output: exa2.output, log: (l) => logs.push(l), minBackoffMs: 50, maxBackoffMs: 200 });
      await waitFor(() => exa2.lines().length === 3, 5000);
      assert.equal(exa2.lines()[0], 'clear adj-rib out');
      assert.ok(exa2.lines().some((l) => l.endsWith('nlri 9.9.9.9/32')));
      assert.equal(await value('sipwarden_bgp_feed_restarts_total'), 2);

      // The node goes away: the relay retries, ExaBGP is told nothing; changes meanwhile arrive with the next start.
      exa2.clear();
      await node.stop();
      set.push([add('1.1.1.1'), add('9.9.9.9', 'remove')]);
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(exa2.lines(), []);
      assert.ok(logs.some((l) => l.includes('lost') && l.includes('keeps its routes')), logs.join('\n'));
      node = server();
      await node.start();
      await waitFor(() => exa2.lines().length === 3, 5000);
      assert.deepEqual(exa2.lines(), [
        'clear adj-rib out',
        'announce attributes next-hop 192.0.2.1 community [65535:666] nlri 1.1.1.1/32',
        'announce attributes next-hop 100::1 community [65535:666] nlri 2a00:1450::1/128',
      ]);
      assert.equal(await value('sipwarden_bgp_feed_restarts_total'), 3);
      assert.equal(relay.connections, 2);
      exa2.input.end();
      await relay.done;
    } finally {
      relay.stop();
      await node.stop();
      cleanup(dir);
    }
  });

  test('a second node on a live socket is refused; a stale socket file is replaced', async () => {
    const dir = tempDir('sipwarden-bgpsock-');
    const path = join(dir, 'feed.sock');
    const logger = createLogger('silent');
    const make = () => createFeedSocketServer({ path, blockSet: fakeSet(), settings: SETTINGS, metrics: new FeedMetrics(new Registry(), 'node'), logger });
    const a = make();
    await a.start();
    try {
      await assert.rejects(make().start(), /another process serves this socket/);
    } finally {
      await a.stop();
    }
    // A socket file nobody serves (a node killed with SIGKILL leaves one).
    const { createServer } = await import('node:net');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(path, () => r()));
    stale.close();
    const { existsSync } = await import('node:fs');
    if (!existsSync(path)) {
      // close() unlinks it; make one the way a killed process leaves it.
      const { spawnSync } = await import('node:child_process');
      spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    }
    assert.ok(existsSync(path));
    const b = make();
    await b.start();
    await b.stop();
    assert.ok(!existsSync(path));
    cleanup(dir);
  });
});

describe('bgp-feed --socket as a process', () => {
  // Regression: ExaBGP stops its processes with SIGTERM and waits for them while their stdin is still open; the
  // relay stayed up (and so did ExaBGP).
  test('SIGTERM ends it with stdin still open', async () => {
    const dir = tempDir('sipwarden-bgpsock-');
    const p = spawn(process.execPath, [MAIN, 'bgp-feed', '--socket', join(dir, 'absent.sock')], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor(() => err.includes('unavailable'), 10_000);
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      p.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
      assert.equal(code, 0, err);
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
      cleanup(dir);
    }
  });
});
