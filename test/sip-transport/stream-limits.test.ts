/**
 * Stream listeners under attack, in-process over real sockets: keep-alive pongs are rate-capped and a ping flood
 * closes the connection; every write respects backpressure (TCP and TLS); a TLS connection holds a slot of the
 * caps and the connections gauge from accept and is closed by the handshake timeout (issue 11, defects 2 and 3).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createCapture } from '../../src/sip/capture.js';
import { extractCredentials } from '../../src/sip/responder/credentials.js';
import type { Responder } from '../../src/sip/responder/types.js';
import { ConnectionTable, PONG_BURST, createStreamListener, type StreamLimits } from '../../src/sip/transport/stream.js';
import type { SipListener } from '../../src/sip/transport/types.js';
import { waitFor } from '../helpers/daemon.js';
import { sipRequest } from '../helpers/net.js';

const logger = createLogger('silent');
const listeners: SipListener[] = [];
const clients: net.Socket[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  for (const l of listeners) await l.stop();
});

/** Answers every request with `size` bytes (a stand-in for any reply that piles up at a peer that never reads). */
function bigReplies(size: number): Responder {
  const body = Buffer.alloc(size, 0x41);
  return {
    async start() {},
    async stop() {},
    handle(_req, reply) {
      reply.send(body);
      return { responseCode: 200, sourceVerified: true };
    },
  };
}

let material: { cert: Buffer; key: Buffer } | null = null;
async function tlsMaterial(): Promise<{ cert: Buffer; key: Buffer }> {
  if (material) return material;
  const { generate } = await import('selfsigned');
  const p = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  material = { cert: Buffer.from(p.cert), key: Buffer.from(p.private) };
  return material;
}

async function listen(kind: 'TCP' | 'TLS', responder: Responder | null, over: Partial<StreamLimits> = {}) {
  const metrics = new Metrics({ processMetrics: false });
  const limits: StreamLimits = { maxMessageBytes: 65_535, idleTimeoutMs: 30_000, maxConnectionsPerSource: 256, maxConnections: 4_096, ...over };
  const connections = new ConnectionTable(limits);
  const capture = createCapture({
    nodeId: '00000000-0000-4000-8000-000000000000',
    responder,
    extractCredentials,
    isAllowed: () => false,
    onEvent: () => {},
    metrics,
    logger,
  });
  const l = createStreamListener({
    kind,
    listen: { ip: '127.0.0.1', port: 0 },
    handler: capture,
    limits,
    connections,
    metrics,
    logger,
    tls: kind === 'TLS' ? await tlsMaterial() : undefined,
  });
  await l.start();
  listeners.push(l);
  return { metrics, connections, port: l.addresses()[0]!.port, listener: l };
}

async function counter(metrics: Metrics, c: 'tcpRejected' | 'sipKeepalivePongsSuppressed' | 'tlsHandshakeFailures', labels: Record<string, string> = {}): Promise<number> {
  const v = (await metrics[c].get()).values.filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k as keyof typeof x.labels] === val));
  return v.reduce((a, x) => a + x.value, 0);
}

async function gauge(metrics: Metrics, transport: string): Promise<number> {
  return (await metrics.tcpConnections.get()).values.find((x) => x.labels.transport === transport)?.value ?? 0;
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    clients.push(s);
  });
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
}

/** A responder only so keep-alives are answered (responsive mode); it is never called. */
const silentResponder: Responder = { async start() {}, async stop() {}, handle: () => ({ responseCode: null, sourceVerified: true }) };

describe('keep-alive pongs', () => {
  test('a burst of pings gets at most PONG_BURST pongs; the rest are counted, not answered', async () => {
    const { port, metrics } = await listen('TCP', silentResponder);
    const s = await connectTcp(port);
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.write('\r\n\r\n'.repeat(50));
    await waitFor(async () => (await counter(metrics, 'sipKeepalivePongsSuppressed')) >= 50 - PONG_BURST - 1);
    await new Promise((r) => setTimeout(r, 200));
    // Tokens refill at 2/s, so one more pong may have slipped in while the 50 pings arrived.
    assert.ok(got.length >= PONG_BURST * 2 && got.length <= (PONG_BURST + 1) * 2, `pongs: ${got.length / 2}`);
    assert.match(got, /^(\r\n)+$/);
    assert.ok(!s.destroyed, 'a short burst does not close the connection');
    s.destroy();
  });

  test('a ping flood from a peer that never reads closes the connection and is counted', async () => {
    const { port, metrics } = await listen('TCP', silentResponder);
    const s = await connectTcp(port);
    s.pause(); // never read
    s.on('error', () => {});
    const chunk = Buffer.from('\r\n\r\n'.repeat(16_384)); // 64 KiB
    let sent = 0;
    const done = closed(s);
    let open = true;
    void done.then(() => (open = false));
    while (open && sent < 64 * 1024 * 1024) {
      if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
      sent += chunk.length;
    }
    await done;
    assert.ok(sent < 8 * 1024 * 1024, `closed only after ${sent} bytes`);
    await waitFor(async () => (await counter(metrics, 'tcpRejected', { reason: 'keepalive_flood' })) === 1);
    await waitFor(async () => (await gauge(metrics, 'tcp')) === 0);
  });
});

describe('backpressure', () => {
  for (const kind of ['TCP', 'TLS'] as const) {
    test(`${kind}: replies piling up at a peer that never reads close the connection at the bound`, async () => {
      const { port, metrics } = await listen(kind, bigReplies(16 * 1024), { maxUnsentBytes: 64 * 1024 });
      const s =
        kind === 'TCP'
          ? await connectTcp(port)
          : await new Promise<net.Socket>((resolve, reject) => {
              const t = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(t));
              t.on('error', reject);
              clients.push(t);
            });
      s.on('error', () => {});
      s.pause(); // never read
      const done = closed(s);
      let open = true;
      void done.then(() => (open = false));
      let n = 0;
      // Each request costs the server a 16 KiB reply; the kernel buffers fill first, then Node's.
      while (open && n < 20_000) {
        const ok = s.write(sipRequest({ transport: kind, user: `bp${n++}` }));
        if (!ok) await Promise.race([new Promise((r) => s.once('drain', r)), done, new Promise((r) => setTimeout(r, 50))]);
        if (n % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await waitFor(async () => (await counter(metrics, 'tcpRejected', { reason: 'backpressure' })) === 1, 20_000);
      await waitFor(async () => (await gauge(metrics, kind.toLowerCase())) === 0);
      s.destroy();
    });
  }
});

describe('TLS before the handshake', () => {
  test('idle TLS connections hold slots and the gauge from accept; the cap refuses the rest; the handshake timeout closes them', async () => {
    const { port, metrics, connections } = await listen('TLS', null, { maxConnectionsPerSource: 5, handshakeTimeoutMs: 700 });
    const socks = await Promise.all(Array.from({ length: 20 }, () => connectTcp(port)));
    for (const s of socks) s.on('error', () => {});
    await waitFor(async () => (await counter(metrics, 'tcpRejected', { reason: 'per_source' })) === 15);
    assert.equal(await gauge(metrics, 'tls'), 5);
    assert.equal(connections.open, 5);
    const t0 = Date.now();
    await Promise.all(socks.map(closed));
    assert.ok(Date.now() - t0 < 5_000);
    await waitFor(async () => (await counter(metrics, 'tcpRejected', { reason: 'handshake_timeout' })) === 5);
    await waitFor(async () => (await gauge(metrics, 'tls')) === 0);
    assert.equal(connections.open, 0);
    // A real client still gets through afterwards, and a completed handshake is not a timeout.
    const t = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(c));
      c.on('error', reject);
      clients.push(c);
    });
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!t.destroyed);
    assert.equal(await gauge(metrics, 'tls'), 1);
    t.destroy();
    await waitFor(async () => (await gauge(metrics, 'tls')) === 0);
    assert.equal(await counter(metrics, 'tcpRejected', { reason: 'handshake_timeout' }), 5);
  });

  test('the idle timeout applies during the handshake when it is shorter', async () => {
    const { port, metrics } = await listen('TLS', null, { idleTimeoutMs: 300, handshakeTimeoutMs: 10_000 });
    const s = await connectTcp(port);
    s.on('error', () => {});
    await closed(s);
    assert.equal(await counter(metrics, 'tcpRejected', { reason: 'idle' }), 1);
  });

  test('a failed handshake is counted and frees the slot', async () => {
    const { port, metrics, connections } = await listen('TLS', null);
    const s = await connectTcp(port);
    s.on('error', () => {});
    s.write(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'));
    await closed(s);
    await waitFor(async () => (await counter(metrics, 'tlsHandshakeFailures')) === 1);
    await waitFor(() => connections.open === 0);
  });

  test('a client that leaves before the handshake timeout is not counted as a timeout', async () => {
    const { port, metrics, connections } = await listen('TLS', null, { handshakeTimeoutMs: 400 });
    const s = await connectTcp(port);
    await waitFor(() => connections.open === 1);
    s.destroy();
    await waitFor(() => connections.open === 0);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await counter(metrics, 'tcpRejected', { reason: 'handshake_timeout' }), 0);
  });
});

describe('stop', () => {
  test('stop() closes open TCP and TLS connections, handshaken or not, and resolves', async () => {
    for (const kind of ['TCP', 'TLS'] as const) {
      const { port, listener, connections } = await listen(kind, null);
      const pending = await connectTcp(port);
      pending.on('error', () => {});
      const done = [closed(pending)];
      if (kind === 'TLS') {
        const t = await new Promise<tls.TLSSocket>((resolve, reject) => {
          const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(c));
          c.on('error', reject);
          clients.push(c);
        });
        t.on('error', () => {});
        done.push(closed(t));
      }
      await waitFor(() => connections.open === done.length);
      await Promise.race([listener.stop(), new Promise((_, j) => setTimeout(() => j(new Error(`${kind} stop() hung`)), 5_000))]);
      await Promise.all(done);
      assert.equal(connections.open, 0);
    }
  });
});
