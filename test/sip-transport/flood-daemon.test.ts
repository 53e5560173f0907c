/**
 * Issue 11 defects 2 and 3 against the real daemon: 1,500 idle TLS connections from one address are capped at
 * the per-source limit from accept (the rest closed at once, the gauge right) and closed by the handshake
 * timeout; a peer sending 64 MB of keep-alives without reading is closed and counted while the daemon's RSS stays
 * bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';

async function metric(d: Daemon, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${d.endpoint('http').port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labels && !labels.split(',').every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('stream floods against the daemon', { timeout: 150_000 }, () => {
  let d: Daemon;
  const open: net.Socket[] = [];
  before(async () => {
    d = await startDaemon(
      // A handshake timeout well above the time 1,500 connects take on a loaded machine, so refusals at accept and
      // closes by the timeout cannot be confused (the 5 s default is covered in stream-limits.test.ts).
      ['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0',
        '--tls-handshake-timeout', '20'],
      { expect: { udp: 1, tcp: 1, tls: 1, http: 1 }, timeoutMs: 60_000 },
    );
  });
  after(async () => {
    for (const s of open) s.destroy();
    assert.equal(await d.stop(), 0, d.stderr());
    cleanup(d.dataDir);
  });

  test('1,500 idle TLS connections from one address: the per-source cap holds from accept, the rest close at once', async () => {
    const port = d.endpoint('tls').port;
    const closedAt: number[] = [];
    const t0 = Date.now();
    const socks = await Promise.all(
      Array.from(
        { length: 1_500 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(port, '127.0.0.1');
            open.push(s);
            s.on('error', () => {});
            s.on('close', () => closedAt.push(Date.now() - t0));
            s.on('connect', () => resolve(s));
            s.on('close', () => resolve(s));
          }),
      ),
    );
    assert.equal(socks.length, 1_500);
    // Refused ones close at once, long before the handshake timeout; the held ones are in the gauge.
    await waitFor(() => closedAt.length >= 1_500 - 256, 15_000);
    assert.equal(await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="per_source"'), 1_500 - 256);
    assert.equal(await metric(d, 'sipwarden_sip_connections', 'transport="tls"'), 256);
    assert.equal(await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="handshake_timeout"'), 0);
    assert.equal(closedAt.length, 1_500 - 256);
    // The handshake timeout then closes the idle ones, and the gauge follows.
    await waitFor(() => closedAt.length === 1_500, 40_000);
    assert.equal(await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="handshake_timeout"'), 256);
    await waitFor(async () => (await metric(d, 'sipwarden_sip_connections', 'transport="tls"')) === 0, 5_000);
  });

  test('64 MB of keep-alives from a peer that never reads: closed, counted, RSS bounded', async () => {
    const port = d.endpoint('tcp').port;
    const rss0 = rssBytes(d.pid);
    let rssMax = rss0;
    const s = await new Promise<net.Socket>((resolve, reject) => {
      // Its own source address: independent of the per-source slots the test above used.
      const c = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => resolve(c));
      c.on('error', reject);
    });
    open.push(s);
    s.on('error', () => {});
    s.pause(); // never read a pong
    let isOpen = true;
    const done = new Promise<void>((r) => s.once('close', () => r()));
    void done.then(() => (isOpen = false));
    const chunk = Buffer.from('\r\n\r\n'.repeat(16_384));
    let sent = 0;
    while (isOpen && sent < 64 * 1024 * 1024) {
      if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
      sent += chunk.length;
      if (sent % (4 * 1024 * 1024) === 0) rssMax = Math.max(rssMax, rssBytes(d.pid));
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    assert.equal(isOpen, false, 'the daemon closed the flooding connection');
    rssMax = Math.max(rssMax, rssBytes(d.pid));
    assert.ok(rssMax - rss0 < 64 * 1024 * 1024, `RSS grew by ${((rssMax - rss0) / 1048576).toFixed(1)} MiB`);
    const text = await (await fetch(`http://127.0.0.1:${d.endpoint('http').port}/metrics`)).text();
    assert.equal(await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="keepalive_flood"'), 1, text.split('\n').filter((l) => /rejected|malformed|keepalive/.test(l)).join('\n'));
    assert.ok((await metric(d, 'sipwarden_sip_keepalive_pongs_suppressed_total')) >= 1_000);
  });
});
