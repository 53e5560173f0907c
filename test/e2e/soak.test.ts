// test-runner: exclusive (it measures API latency under its own attack load; other files' load would decide it)
/**
 * Soak: 60 s of the nine attack shapes mixed at ~1,000 messages/s in total, each from its own loopback
 * address, against one daemon, while a normal client probes at a low rate (sipsak and raw OPTIONS) and the API is
 * polled every 100 ms from a separate thread. Passes when the API's p99 latency is ≤ 50 ms, every request of the
 * normal client is recorded, and the daemon is alive with a bounded RSS and exits cleanly.
 *
 * `SIPWARDEN_SOAK_SHAPES=a,b` (`none` = no attack) runs only some shapes and `SIPWARDEN_SOAK_SECONDS` shortens the
 * run, for diagnosing a partial build; both are refused with `CI=true`.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { queryDb, runTool } from '../helpers/net.js';

/** 60 s; `SIPWARDEN_SOAK_SECONDS` shortens it for diagnosis (refused with `CI=true`). */
const DURATION_MS = ((): number => {
  const env = process.env.SIPWARDEN_SOAK_SECONDS;
  if (!env) return 60_000;
  assert.notEqual(process.env.CI, 'true', 'SIPWARDEN_SOAK_SECONDS is for diagnosis only; CI runs 60 s');
  return Number(env) * 1000;
})();
const TICK_MS = 100;
const TOKEN = 'soak-token-0123456789';
const SHAPES = [
  'regex-via', // top Via with a run of spaces and U+2028 (regex backtracking bait)
  'digest-ws', // Authorization: Digest username=x + 8,000 spaces + y
  'keepalive-flood', // TCP CRLFCRLF pings, never reading a pong
  'idle-tls', // TLS connections that never start the handshake
  'api-numbers', // hours=1e999, limit=Infinity
  'api-unauth', // requests without a token
  'big-datagram', // 65,000-byte datagrams (mostly not SIP, one in ten a valid OPTIONS)
  'invite-unverified', // INVITEs from a source never verified (reply amplification bait)
  'ua-controls', // User-Agent with C0/C1/DEL/bidi/line-separator characters
] as const;
type Shape = (typeof SHAPES)[number];

const selected = ((): Set<Shape> => {
  const env = process.env.SIPWARDEN_SOAK_SHAPES;
  if (!env) return new Set(SHAPES);
  assert.notEqual(process.env.CI, 'true', 'SIPWARDEN_SOAK_SHAPES is for diagnosis only; CI runs every shape');
  if (env === 'none') return new Set();
  const names = env.split(',').map((s) => s.trim()) as Shape[];
  for (const n of names) assert.ok(SHAPES.includes(n), `unknown soak shape ${n}`);
  return new Set(names);
})();

/** Messages per tick (10 ticks/s) of each shape: ~1,000/s in total. */
const PER_TICK: Record<Shape, number> = {
  'regex-via': 10,
  'digest-ws': 10,
  'keepalive-flood': 20,
  'idle-tls': 5,
  'api-numbers': 4,
  'api-unauth': 4,
  'big-datagram': 5,
  'invite-unverified': 20,
  'ua-controls': 22,
};
/** The source address of each shape (the normal client is 127.0.0.1). */
const SOURCE: Record<Shape, string> = {
  'regex-via': '127.0.0.2',
  'digest-ws': '127.0.0.3',
  'keepalive-flood': '127.0.0.4',
  'idle-tls': '127.0.0.5',
  'api-numbers': '127.0.0.6',
  'api-unauth': '127.0.0.7',
  'big-datagram': '127.0.0.8',
  'invite-unverified': '127.0.0.9',
  'ua-controls': '127.0.0.10',
};

let seq = 0;
/** A complete SIP request with a fresh branch/Call-ID; `via` replaces the top Via's value. */
function request(method: string, user: string, opts: { via?: string; ua?: string; extra?: string[]; body?: string } = {}): Buffer {
  const id = `${process.pid}x${++seq}x${Date.now().toString(36)}`;
  const body = opts.body ?? '';
  return Buffer.from(
    [
      `${method} sip:${user}@127.0.0.1 SIP/2.0`,
      `Via: ${opts.via ?? `SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK${id};rport`}`,
      `From: <sip:soak@192.0.2.7>;tag=${id}`,
      `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: ${id}@soak`,
      `CSeq: 1 ${method}`,
      'Max-Forwards: 70',
      `User-Agent: ${opts.ua ?? 'soak'}`,
      ...(opts.extra ?? []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

/** The API poller: its own thread, so the load generators cannot delay its clock. Reports latencies in ms. */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4, localAddress: '127.0.0.1' });
const lat = [];
const pending = new Set();
let errors = 0;
const timer = setInterval(() => {
  const t0 = performance.now();
  const entry = { t0 };
  pending.add(entry);
  const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/api/v1/events?limit=10', agent,
    headers: { authorization: 'Bearer ' + workerData.token } }, (res) => {
    res.resume();
    res.on('end', () => { pending.delete(entry); lat.push(performance.now() - t0); if (res.statusCode !== 200) errors++; });
  });
  req.setTimeout(30000, () => req.destroy());
  req.on('error', () => { pending.delete(entry); errors++; lat.push(performance.now() - t0); });
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  const now = performance.now();
  for (const p of pending) lat.push(now - p.t0); // still unanswered: as slow as it has been so far
  agent.destroy();
  parentPort.postMessage({ lat, errors });
});
`;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function apiRequest(port: number, path: string, localAddress: string, auth: boolean): void {
  const req = http.get({ host: '127.0.0.1', port, path, localAddress, agent: false, headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} }, (res) => res.resume());
  req.setTimeout(10_000, () => req.destroy());
  req.on('error', () => {});
}

describe('soak: nine attack shapes at ~1,000/s for 60 s', { timeout: 180_000 }, () => {
  let d: Daemon;
  const udpSockets = new Map<string, dgram.Socket>();
  const streams = new Set<net.Socket>();

  before(async () => {
    d = await startDaemon(
      ['-r', '-a', '-j', '--api-listen', '127.0.0.1:0', '--api-token', TOKEN, '--sip-listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0'],
      { expect: { udp: 1, tcp: 1, tls: 1, http: 1 }, timeoutMs: 60_000 },
    );
    for (const ip of ['127.0.0.1', ...Object.values(SOURCE)]) {
      const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 1 << 20 });
      s.on('error', () => {});
      s.on('message', () => {}); // replies are read and dropped
      await new Promise<void>((r) => s.bind(0, ip, () => r()));
      udpSockets.set(ip, s);
    }
  });
  after(async () => {
    for (const s of streams) s.destroy();
    for (const s of udpSockets.values()) s.close();
    assert.equal(await d.stop('SIGTERM', 20_000), 0, d.stderr().slice(-4000));
    cleanup(d.dataDir);
  });

  test('API p99 ≤ 50 ms, no normal event lost, RSS bounded', async () => {
    const udpPort = d.endpoint('udp').port;
    const tcpPort = d.endpoint('tcp').port;
    const tlsPort = d.endpoint('tls').port;
    const apiPort = d.endpoint('http').port;
    const udp = (shape: Shape | 'normal', msg: Buffer): void => {
      udpSockets.get(shape === 'normal' ? '127.0.0.1' : SOURCE[shape])!.send(msg, udpPort, '127.0.0.1');
    };
    const garbage = Buffer.alloc(65_000, 0xfe);
    const bigSip = request('OPTIONS', 'big', { extra: [`X-Pad: ${'p'.repeat(64_000)}`] });
    const uaEvil = 'evil\x1b[2J\x7f\u0085\u009b31m\u202egnp.exe\u2066\u2028x\u2029y\u200b\ufeff';

    // Keep-alive flood: one non-reading connection at a time, replaced when the daemon closes it.
    let ka: net.Socket | null = null;
    const pings = Buffer.from('\r\n\r\n');
    const keepaliveTick = (n: number): void => {
      if (!ka || ka.destroyed) {
        const s = net.connect({ port: tcpPort, host: '127.0.0.1', localAddress: SOURCE['keepalive-flood'] });
        s.on('error', () => {});
        s.pause();
        streams.add(s);
        s.on('close', () => streams.delete(s));
        ka = s;
      }
      if (ka.writableLength < 1 << 20) ka.write(Buffer.concat(Array.from({ length: n }, () => pings)));
    };
    // Idle TLS: connections that never send a byte; the client keeps at most 600 of its own open.
    const idle: net.Socket[] = [];
    const idleTick = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const s = net.connect({ port: tlsPort, host: '127.0.0.1', localAddress: SOURCE['idle-tls'] });
        s.on('error', () => {});
        streams.add(s);
        s.on('close', () => streams.delete(s));
        idle.push(s);
      }
      while (idle.length > 600) idle.shift()!.destroy();
    };

    let tick = 0;
    const tickOnce = (): void => {
      tick++;
      for (const shape of selected) {
        const n = PER_TICK[shape];
        switch (shape) {
          case 'regex-via':
            for (let i = 0; i < n; i++) udp(shape, request('OPTIONS', `rx${tick}`, { via: `SIP/2.0/UDP${' '.repeat(8_150)}\u2028` }));
            break;
          case 'digest-ws':
            for (let i = 0; i < n; i++) {
              udp(shape, request('REGISTER', '100', {
                extra: [`Authorization: Digest username=x${' '.repeat(8_000)}y, realm="asterisk", nonce="n${tick}", uri="sip:100@127.0.0.1", response="00000000000000000000000000000000"`],
              }));
            }
            break;
          case 'keepalive-flood':
            keepaliveTick(n);
            break;
          case 'idle-tls':
            idleTick(n);
            break;
          case 'api-numbers':
            for (let i = 0; i < n; i++) apiRequest(apiPort, i % 2 ? '/api/v1/stats?hours=1e999' : '/api/v1/events?limit=Infinity', SOURCE[shape], true);
            break;
          case 'api-unauth':
            for (let i = 0; i < n; i++) apiRequest(apiPort, i % 2 ? '/api/v1/events' : '/no/such/route', SOURCE[shape], false);
            break;
          case 'big-datagram':
            for (let i = 0; i < n; i++) udp(shape, (tick * n + i) % 10 === 0 ? bigSip : garbage);
            break;
          case 'invite-unverified':
            for (let i = 0; i < n; i++) udp(shape, request('INVITE', `0046812118${tick % 1000}`));
            break;
          case 'ua-controls':
            for (let i = 0; i < n; i++) udp(shape, request('OPTIONS', `ua${tick}`, { ua: uaEvil }));
            break;
        }
      }
    };

    // The normal client: raw OPTIONS 5/s and one sipsak probe every 2 s, each with its own user.
    const normalUsers: string[] = [];
    const sipsakRuns: Promise<unknown>[] = [];
    let n = 0;
    const normalTick = (): void => {
      const user = `normal${n++}`;
      normalUsers.push(user);
      udp('normal', request('OPTIONS', user, { ua: 'normal-client' }));
      if (n % 10 === 0) {
        const su = `sipsak${n}`;
        normalUsers.push(su);
        sipsakRuns.push(runTool('sipsak', ['-s', `sip:${su}@127.0.0.1:${udpPort}`], 20_000));
      }
    };

    // Warm-up (first queries compile and open the read connection): not part of the measurement.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1/events?limit=10`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    const poller = new Worker(POLLER, { eval: true, workerData: { port: apiPort, token: TOKEN, intervalMs: 100 } });
    const rss0 = rssBytes(d.pid);
    const cpu0 = cpuSeconds(d.pid);
    let rssMax = rss0;
    const load = setInterval(tickOnce, TICK_MS);
    const normal = setInterval(normalTick, 200);
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssBytes(d.pid))), 1_000);
    await new Promise((r) => setTimeout(r, DURATION_MS));
    clearInterval(load);
    clearInterval(normal);
    clearInterval(rssTimer);
    const result = await new Promise<{ lat: number[]; errors: number }>((resolve) => {
      poller.once('message', resolve);
      poller.postMessage('stop');
    });
    await poller.terminate();
    await Promise.all(sipsakRuns);
    for (const s of streams) s.destroy();

    assert.equal(d.proc.exitCode, null, 'the daemon is alive');
    const cpu = cpuSeconds(d.pid) - cpu0;
    const lat = result.lat.sort((a, b) => a - b);
    const p99 = lat[Math.min(lat.length - 1, Math.ceil(lat.length * 0.99) - 1)]!;
    const summary = `API polls ${lat.length}, errors ${result.errors}, p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms; ticks ${tick}; RSS ${(rss0 / 1048576).toFixed(0)} → max ${(rssMax / 1048576).toFixed(0)} MiB; daemon CPU ${cpu.toFixed(1)} s; shapes ${[...selected].join(',')}`;
    console.log(`# soak: ${summary}`);
    assert.ok(lat.length >= (DURATION_MS / 100) * 0.9, summary);
    assert.equal(result.errors, 0, summary);
    assert.ok(p99 <= 50, summary);
    assert.ok(rssMax < 1024 * 1024 * 1024, summary);

    // Every normal request is recorded (the store commits within ~100 ms; allow for the backlog to drain).
    const missing = (): string[] => {
      const have = new Set(
        queryDb<{ u: string }>(d.dataDir, "SELECT request_uri_user AS u FROM honey WHERE request_uri_user LIKE 'normal%' OR request_uri_user LIKE 'sipsak%'").map((r) => r.u),
      );
      return normalUsers.filter((u) => !have.has(u));
    };
    await waitFor(() => missing().length === 0, 30_000, 500).catch(() => {});
    assert.deepEqual(missing(), [], `${summary}`);
  });
});
