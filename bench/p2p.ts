/**
 * `npm run bench -- p2p`: five P2P node processes on loopback (node 1 is the bootstrap, nodes 2–5 dial it),
 * each running `createP2pNode` over the real sqlite store. Measures:
 * - propagation latency p50/p99 and delivery at 50 records/s (one publisher) and 200 records/s (four publishers
 *   at 50/s each, so the 100 records/s per-peer cap is not what is measured);
 * - catch-up rate of a late joiner (node 5 restarts with an empty store while node 1 holds N records);
 * - RSS per node idle and after load; TCP bytes written by all nodes per published record.
 * Latency uses process.hrtime (CLOCK_MONOTONIC, shared by processes on one machine).
 * Same file runs as the orchestrator (no argument) and as a node (`child` argument, forked with IPC).
 * Then runs `bench/opendht.ts` (the OpenDHT engine's figures).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const nowNsMono = (): bigint => process.hrtime.bigint();

type ToChild =
  | { t: 'start'; dir: string; bootstrap: string[] }
  | { t: 'publish'; count: number; rate: number; tag: string }
  | { t: 'preload'; count: number }
  | { t: 'stats' }
  | { t: 'stop' };
type FromChild =
  | { t: 'started'; addr: string; peerId: string }
  | { t: 'got'; tag: string; lat: number[] }
  | { t: 'published'; tag: string }
  | { t: 'preloaded' }
  | { t: 'stats'; rss: number; got: number; written: number; peers: number }
  | { t: 'stopped' };

// ---------------------------------------------------------------------------------------------- child ---

async function child(): Promise<void> {
  // Count every TCP byte this process writes (only libp2p sockets live here).
  let written = 0;
  const origWrite = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string') written += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) written += chunk.byteLength;
    return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof net.Socket.prototype.write;

  const { createP2pNode } = await import('../src/p2p/node.js');
  const { createSqliteStore } = await import('../src/store/sqlite.js');
  const { Metrics } = await import('../src/metrics.js');
  const { createLogger } = await import('../src/log.js');
  const { newUuid, receiptTime } = await import('../src/events/event.js');
  const { createRecordSigner, envelopeForEvent } = await import('../src/p2p/record.js');
  const { generateKeyPair } = await import('@libp2p/crypto/keys');
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
  type Ev = import('../src/events/event.js').HoneypotEvent;

  const send = (m: FromChild): void => void process.send!(m);
  let node: import('../src/p2p/node.js').P2pNode | null = null;
  let store: ReturnType<typeof createSqliteStore> | null = null;
  let got = 0;
  // tag -> latencies (ms); the publisher puts its hrtime in the user agent.
  const lat = new Map<string, number[]>();
  const mkEvent = (nodeId: string, ua: string): Ev => ({
    eventUuid: newUuid(), ...receiptTime(), sourceIp: '203.0.113.' + (1 + Math.floor(Math.random() * 250)), sourcePort: 5070,
    destinationIp: '127.0.0.1', destinationPort: 5060, transport: 'UDP', method: 'INVITE', requestUriUser: '0046812118532',
    toUser: '0046812118532', calledNumber: '0046812118532', calledNumberE164: '+46812118532', userAgent: ua,
    // A typical scanner INVITE with SDP: ~700 bytes.
    sipMessage: 'INVITE sip:0046812118532@127.0.0.1 SIP/2.0\r\n' + 'Via: SIP/2.0/UDP 203.0.113.5:5070;branch=z9hG4bK-1\r\n'.repeat(3) +
      'From: <sip:100@203.0.113.5>;tag=1\r\nTo: <sip:0046812118532@127.0.0.1>\r\nCall-ID: ' + newUuid() + '\r\nCSeq: 1 INVITE\r\n' +
      'Content-Type: application/sdp\r\nContent-Length: 200\r\n\r\n' + 'v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\n'.repeat(5),
    sipMessageRaw: null, collectedMethod: 'passive', createdByNodeId: nodeId, origin: 'local', originPeerId: null,
    responseCode: null, auth: null, sourceVerified: false, sourceCountry: null, sourceCity: null, peerEnvelope: null,
  });

  process.on('message', async (m: ToChild) => {
    if (m.t === 'start') {
      const metrics = new Metrics({ processMetrics: false });
      const logger = createLogger('silent');
      store = createSqliteStore({ path: join(m.dir, 'sipwarden.db'), metrics, logger, writer: process.env.BENCH_P2P_WRITER === 'main' ? 'main' : 'worker' });
      await store.start();
      const s = store;
      node = createP2pNode({
        config: {
          dataDir: m.dir, bootstrap: m.bootstrap, p2pListen: [{ ip: '127.0.0.1', port: 0 }], p2pShare: 'no-credentials',
          p2pVerifiedOnly: false, p2pNetworkKey: null, p2pAllowPeers: [], sources: { p2pListen: 'cli' },
        } as unknown as import('../src/config/types.js').Config,
        store: s, metrics, logger, announce: false, resyncIntervalMs: 0,
        isAllowedSource: () => false,
        onPeerEvent: (e) => {
          got++;
          s.append(e);
          const [tag, ns] = e.userAgent.split(' ');
          if (tag && ns) {
            let l = lat.get(tag);
            if (!l) lat.set(tag, (l = []));
            l.push(Number(nowNsMono() - BigInt(ns)) / 1e6);
          }
        },
      });
      await node.start();
      send({ t: 'started', addr: node.multiaddrs()[0]!, peerId: node.peerId });
    } else if (m.t === 'publish') {
      const start = performance.now();
      for (let i = 0; i < m.count; i++) {
        node!.offer(mkEvent(store!.nodeId, `${m.tag} ${nowNsMono()}`));
        const wait = start + ((i + 1) * 1000) / m.rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      send({ t: 'published', tag: m.tag });
    } else if (m.t === 'preload') {
      // Records of another node, already signed, as a busy group would have left them in peer_records.
      const key = await generateKeyPair('Ed25519');
      const signer = createRecordSigner(peerIdFromPrivateKey(key).toString(), key.raw);
      const origin = newUuid();
      const ins = store!.db.prepare('INSERT INTO peer_records (event_uuid, origin_peer_id, envelope, received_at_us) VALUES (?, ?, ?, ?)');
      const tx = store!.db.transaction((n: number) => {
        for (let i = 0; i < n; i++) {
          const e = mkEvent(origin, 'preload');
          ins.run(e.eventUuid, signer.peerId, envelopeForEvent(e, 'no-credentials', signer), Date.now() * 1000);
        }
      });
      tx(m.count);
      send({ t: 'preloaded' });
    } else if (m.t === 'stats') {
      for (const [tag, l] of lat) send({ t: 'got', tag, lat: l });
      lat.clear();
      send({ t: 'stats', rss: process.memoryUsage().rss, got, written, peers: node?.peers().filter((p) => p.connectedSince).length ?? 0 });
    } else if (m.t === 'stop') {
      await node?.stop();
      await store?.stop();
      send({ t: 'stopped' });
      process.exit(0);
    }
  });
}

// ------------------------------------------------------------------------------------------- orchestrator ---

interface Proc {
  p: ChildProcess;
  dir: string;
  addr: string;
  peerId: string;
  inbox: FromChild[];
}

async function spawnNode(bootstrap: string[]): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-p2p-'));
  const p = fork(SELF, ['child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const proc: Proc = { p, dir, addr: '', peerId: '', inbox: [] };
  p.on('message', (m: FromChild) => proc.inbox.push(m));
  p.send({ t: 'start', dir, bootstrap } satisfies ToChild);
  const s = (await next(proc, 'started')) as Extract<FromChild, { t: 'started' }>;
  proc.addr = s.addr;
  proc.peerId = s.peerId;
  return proc;
}

async function next(proc: Proc, t: FromChild['t'], timeoutMs = 60_000): Promise<FromChild> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const i = proc.inbox.findIndex((m) => m.t === t);
    if (i >= 0) return proc.inbox.splice(i, 1)[0]!;
    if (Date.now() > end) throw new Error(`timeout waiting for ${t}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stats(procs: Proc[]): Promise<{ lat: Map<string, number[]>; s: Array<Extract<FromChild, { t: 'stats' }>> }> {
  for (const p of procs) p.p.send({ t: 'stats' } satisfies ToChild);
  const s = await Promise.all(procs.map((p) => next(p, 'stats') as Promise<Extract<FromChild, { t: 'stats' }>>));
  const lat = new Map<string, number[]>();
  for (const p of procs) {
    for (let i = p.inbox.length - 1; i >= 0; i--) {
      const m = p.inbox[i]!;
      if (m.t !== 'got') continue;
      p.inbox.splice(i, 1);
      const l = lat.get(m.tag) ?? [];
      l.push(...m.lat);
      lat.set(m.tag, l);
    }
  }
  return { lat, s };
}

const pct = (a: number[], q: number): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};
const mb = (b: number): string => (b / 1048576).toFixed(0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error('bench p2p: watchdog fired');
    process.exit(1);
  }, 240_000);
  const procs: Proc[] = [];
  try {
    const t0 = performance.now();
    procs.push(await spawnNode([]));
    const rest = await Promise.all([1, 2, 3, 4].map(() => spawnNode([procs[0]!.addr])));
    procs.push(...rest);
    for (;;) {
      const { s } = await stats(procs);
      if (s[0]!.peers >= 4 && s.slice(1).every((x) => x.peers >= 1)) break;
      await sleep(50);
    }
    console.log(`store writer: ${process.env.BENCH_P2P_WRITER === 'main' ? 'main thread' : 'worker thread (daemon default)'}; BENCH_P2P_WRITER=main|worker`);
    console.log(`5 nodes up and connected in ${(performance.now() - t0).toFixed(0)} ms (star: nodes 2-5 bootstrap to node 1)`);
    await sleep(1500); // gossipsub heartbeat grafts the mesh
    const idle = await stats(procs);
    console.log(`RSS idle per node: ${idle.s.map((x) => mb(x.rss)).join(' / ')} MB`);

    const phase = async (label: string, publishers: Proc[], perPublisherRate: number, seconds: number): Promise<void> => {
      const before = await stats(procs);
      const count = perPublisherRate * seconds;
      publishers.forEach((p, i) => p.p.send({ t: 'publish', count, rate: perPublisherRate, tag: `${label}-${i}` } satisfies ToChild));
      await Promise.all(publishers.map((p) => next(p, 'published', 120_000)));
      await sleep(1000);
      const after = await stats(procs);
      const all = [...after.lat.values()].flat();
      const expected = count * publishers.length * 4; // every record to the 4 other nodes
      const bytes = after.s.reduce((a, x) => a + x.written, 0) - before.s.reduce((a, x) => a + x.written, 0);
      console.log(
        `${label}: ${publishers.length} publisher(s) x ${perPublisherRate}/s for ${seconds} s: delivered ${all.length}/${expected} ` +
          `(${((100 * all.length) / expected).toFixed(1)} %), latency p50 ${pct(all, 0.5).toFixed(1)} ms, p99 ${pct(all, 0.99).toFixed(1)} ms, ` +
          `max ${pct(all, 1).toFixed(1)} ms; TCP bytes written by all nodes per record ${(bytes / (count * publishers.length)).toFixed(0)}`,
      );
    };
    await phase('50/s', [procs[1]!], 50, 6);
    await phase('200/s', procs.slice(1, 5), 50, 6);
    const load = await stats(procs);
    console.log(`RSS after load per node: ${load.s.map((x) => mb(x.rss)).join(' / ')} MB`);

    // Late joiner: node 1 holds N more records; node 5 restarts with an empty store and pages through them.
    const N = 20_000;
    procs[0]!.p.send({ t: 'preload', count: N } satisfies ToChild);
    await next(procs[0]!, 'preloaded', 120_000);
    procs[4]!.p.send({ t: 'stop' } satisfies ToChild);
    await next(procs[4]!, 'stopped');
    const tj = performance.now();
    const joiner = await spawnNode([procs[0]!.addr]);
    procs[4] = joiner;
    // Everything node 1 holds from the last 24 h: its own + received records of the load phases + N.
    let last = 0;
    for (;;) {
      const { s } = await stats([joiner]);
      last = s[0]!.got;
      if (last >= N || performance.now() - tj > 60_000) break;
      await sleep(20);
    }
    const secs = (performance.now() - tj) / 1000;
    console.log(`catch-up: late joiner received ${last} records in ${secs.toFixed(2)} s from process start (${(last / secs).toFixed(0)} records/s incl. start-up)`);
    const end = await stats([joiner]);
    console.log(`RSS of the joiner after catch-up: ${mb(end.s[0]!.rss)} MB`);
  } finally {
    for (const p of procs) {
      p.p.send({ t: 'stop' } satisfies ToChild);
    }
    await Promise.all(procs.map((p) => next(p, 'stopped', 10_000).catch(() => p.p.kill('SIGKILL'))));
    for (const p of procs) rmSync(p.dir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

if (process.argv[2] === 'child') void child();
else
  main().then(
    () => {
      // The OpenDHT engine's figures belong to the same benchmark name.
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./opendht.ts', import.meta.url))], { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
