/**
 * Issue 7 end to end: every node is a real daemon process (`dist/main.js -p`) on loopback with its own data
 * dir; probes come from the real sipsak; adversaries are separate libp2p processes (test/p2p/adversary.ts).
 * Asserts on each node's sqlite file, its /api/v1 answers and /metrics.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateKey } from '@libp2p/pnet';
import { cleanup, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { queryDb, runTool, sipRequest } from '../helpers/net.js';

const ADVERSARY = fileURLToPath(new URL('./adversary.ts', import.meta.url));
const daemons: Daemon[] = [];
const dirs: string[] = [];
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
  for (const d of dirs) cleanup(d);
});

interface Node {
  d: Daemon;
  addr: string;
  peerId: string;
  api: string;
  sip: number;
}

async function startNode(extra: string[] = [], dataDir?: string): Promise<Node> {
  const dir = dataDir ?? tempDir('sipwarden-p2p-e2e-');
  if (!dataDir) dirs.push(dir);
  const d = await startDaemon(
    ['-p', '--p2p-listen', '127.0.0.1:0', '--sip-listen', '127.0.0.1:0', '--no-tls', '-r', '-a', '--api-listen', '127.0.0.1:0',
      '--api-rate-limit', '0', ...extra],
    { dataDir: dir, expect: { p2p: 1, udp: 1, http: 1 }, timeoutMs: 20_000 },
  );
  daemons.push(d);
  const addr = d.endpoint('p2p').addr;
  const http = d.endpoint('http');
  return { d, addr, peerId: addr.split('/p2p/')[1]!, api: `http://127.0.0.1:${http.port}`, sip: d.endpoint('udp').port };
}

async function getJson<T>(n: Node, path: string): Promise<T> {
  const r = await fetch(n.api + path);
  return (await r.json()) as T;
}
interface PeerRow { id: string; connected_since: string | null; records_received: number; records_rejected: number; score: number }
const peersOf = async (n: Node): Promise<PeerRow[]> => (await getJson<{ peers: PeerRow[] }>(n, '/api/v1/peers')).peers;
const isConnected = async (n: Node, other: Node): Promise<boolean> =>
  (await peersOf(n)).some((p) => p.id === other.peerId && p.connected_since !== null);
interface Row { event_uuid: string; origin: string; origin_peer_id: string | null; created_by_node_id: string; source_ip: string; user_agent: string }
const rows = (n: Node, where = '1=1', ...p: unknown[]): Row[] => queryDb<Row>(n.d.dataDir, `SELECT * FROM honey WHERE ${where}`, ...p);
const nodeIdOf = (n: Node): string => queryDb<{ value: string }>(n.d.dataDir, "SELECT value FROM sipwarden_meta WHERE key='node_id'")[0]!.value;

async function sipsak(n: Node, user: string): Promise<void> {
  const r = await runTool('sipsak', ['-s', `sip:${user}@127.0.0.1:${n.sip}`], 10_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

interface AdversaryResult { peerId: string; sent: string[]; bad: string[]; floodMs: number; exited: Promise<number | null> }
/** Runs an adversary process; resolves on its result line (it stays connected `holdMs` longer). */
async function adversary(target: Node, mode: string, count: number, rate: number, holdMs = 0): Promise<AdversaryResult> {
  const p = spawn(process.execPath, ['--import', 'tsx', ADVERSARY, target.addr, mode, String(count), String(rate), String(holdMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((r) => p.on('close', (c) => { clearTimeout(t); r(c); }));
  const line = await new Promise<string>((resolve, reject) => {
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    void exited.then((code) => reject(new Error(`adversary exited ${code}: ${err}`)));
  });
  return { ...(JSON.parse(line) as Omit<AdversaryResult, 'exited'>), exited };
}

async function metric(n: Node, name: string): Promise<number> {
  const text = await (await fetch(n.api + '/metrics')).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

describe('p2p end to end', { timeout: 180_000 }, () => {
  let n1: Node, n2: Node, n3: Node;

  test('three nodes: a sipsak probe on node 1 is in the stores and APIs of nodes 2 and 3 within 2 s', async () => {
    n1 = await startNode();
    assert.match(n1.d.stderr(), /sipwarden: warning: p2p node is open/);
    assert.match(n1.addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/);
    const port = /\/tcp\/(\d+)/.exec(n1.addr)![1];
    n2 = await startNode(['-b', n1.addr]);
    n3 = await startNode(['-b', `127.0.0.1:${port}`]);
    await waitFor(async () => (await isConnected(n2, n1)) && (await isConnected(n3, n1)), 10_000);
    await new Promise((r) => setTimeout(r, 1200)); // gossipsub heartbeat grafts the mesh
    const t0 = Date.now();
    await sipsak(n1, '4711');
    const local = await waitFor(() => rows(n1, "request_uri_user='4711'")[0], 2000);
    const onPeers = await waitFor(() => {
      const a = rows(n2, 'event_uuid = ?', local.event_uuid)[0];
      const b = rows(n3, 'event_uuid = ?', local.event_uuid)[0];
      return a && b ? [a, b] : null;
    }, 2000);
    const ms = Date.now() - t0;
    assert.ok(ms <= 2500, `took ${ms} ms`);
    for (const r of onPeers) {
      assert.equal(r.origin, 'peer');
      assert.equal(r.origin_peer_id, n1.peerId);
      assert.equal(r.created_by_node_id, nodeIdOf(n1));
      assert.match(r.user_agent, /^sipsak/);
    }
    for (const n of [n2, n3]) {
      const ev = await getJson<{ events: Array<{ event_uuid: string; origin: string; origin_peer_id: string }> }>(n, '/api/v1/events?origin=peer');
      const e = ev.events.find((x) => x.event_uuid === local.event_uuid);
      assert.ok(e, JSON.stringify(ev));
      assert.equal(e.origin_peer_id, n1.peerId);
      assert.equal((await getJson<{ events: unknown[] }>(n, '/api/v1/events?origin=local')).events.length, 0);
      const p = (await peersOf(n)).find((x) => x.id === n1.peerId)!;
      assert.ok(p.records_received >= 1);
      const text = await (await fetch(n.api + '/metrics')).text();
      assert.match(text, /^sipwarden_sip_events_total\{[^}]*origin="peer"[^}]*\} [1-9]/m, 'peer events counted by origin');
    }
    // Peer events are never republished: node 1 does not get its own event back as a peer event.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rows(n1, "origin='peer'").length, 0);
  });

  test('a fourth node started later catches up; a restarted node keeps its peer id', async () => {
    await sipsak(n2, '4712');
    await sipsak(n3, '4713');
    await waitFor(() => rows(n1).length >= 3, 3000);
    const n4 = await startNode(['-b', n1.addr]);
    const want = rows(n1).map((r) => r.event_uuid).sort();
    await waitFor(() => rows(n4).length >= want.length, 5000);
    assert.deepEqual(rows(n4).map((r) => r.event_uuid).sort(), want);
    assert.ok(rows(n4).every((r) => r.origin === 'peer'));
    const id = n4.peerId;
    assert.equal(await n4.d.stop(), 0);
    await sipsak(n1, '4714'); // missed while n4 is down
    const n4b = await startNode(['-b', n1.addr], n4.d.dataDir);
    assert.equal(n4b.peerId, id);
    await waitFor(() => rows(n4b, "request_uri_user='4714'").length === 1, 5000);
    assert.equal(rows(n4b).length, want.length + 1, 'nothing duplicated after restart');
  });

  test('a node without the network key cannot connect; a node not on the allowlist is refused', async () => {
    const dir = tempDir('sipwarden-p2p-key-');
    dirs.push(dir);
    const keyFile = join(dir, 'swarm.key');
    const psk = new Uint8Array(95);
    generateKey(psk);
    writeFileSync(keyFile, psk);
    const k1 = await startNode(['--p2p-network-key', keyFile]);
    assert.doesNotMatch(k1.d.stderr(), /p2p node is open/);
    const k2 = await startNode(['--p2p-network-key', keyFile, '-b', k1.addr]);
    const nokey = await startNode(['-b', k1.addr]);
    await waitFor(() => isConnected(k2, k1), 10_000);
    await new Promise((r) => setTimeout(r, 1200));
    await sipsak(k1, '5001');
    await waitFor(() => rows(k2, "request_uri_user='5001'").length === 1, 3000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rows(nokey).length, 0);
    assert.ok(!(await isConnected(k1, nokey)));

    // Allowlist: a2 accepts only a1.
    const a1 = await startNode();
    const a2 = await startNode(['--p2p-allow-peer', a1.peerId, '-b', a1.addr]);
    const stranger = await startNode(['-b', a2.addr]);
    await waitFor(() => isConnected(a2, a1), 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!(await isConnected(a2, stranger)), 'stranger connected');
    await sipsak(a2, '5002');
    await waitFor(() => rows(a1, "request_uri_user='5002'").length === 1, 3000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rows(stranger).length, 0);
  });

  test('unsigned, forged, oversized and malformed records are never stored; the sender drops and is then ignored', async () => {
    const v = await startNode();
    const before = await metric(v, 'sipwarden_p2p_records_rejected_total');
    const unsigned = await adversary(v, 'unsigned', 3, 20);
    const bad = await adversary(v, 'bad', 3, 20, 3000);
    await new Promise((r) => setTimeout(r, 500));
    const stored = new Set(rows(v).map((r) => r.event_uuid));
    for (const u of [...unsigned.sent, ...bad.bad, ...bad.sent]) assert.ok(!stored.has(u), `record ${u} stored`);
    assert.ok((await metric(v, 'sipwarden_p2p_records_rejected_total')) - before >= 3);
    const p = (await peersOf(v)).find((x) => x.id === bad.peerId);
    assert.ok(p && p.records_rejected >= 3, JSON.stringify(p));
    // The score fell (gossipsub decays it over time, so its exact depth when read depends on machine load; that the
    // sender's later valid records were ignored is asserted above through bad.sent).
    assert.ok(p.score < 0, `score ${p.score} did not drop`);
    assert.equal(await bad.exited, 0);
    // A well-behaved publisher is still heard.
    const good = await adversary(v, 'valid', 3, 20);
    await waitFor(() => good.sent.every((u) => rows(v, 'event_uuid = ?', u).length === 1), 3000);
  });

  test('a flood from one peer is capped at 100 records/s while capture on the flooded node keeps every request', async () => {
    const v = await startNode();
    const flood = adversary(v, 'flood', 1500, 750); // 2 s at 750/s
    // Capture under the flood: 500 distinct requests over ~2 s, every one must be stored.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    await new Promise((r) => setTimeout(r, 1500)); // flood under way (the adversary waits for the mesh first)
    for (let i = 0; i < 500; i++) {
      await new Promise<void>((r, j) => sock.send(sipRequest({ user: `9${i}` }), v.sip, '127.0.0.1', (e) => (e ? j(e) : r())));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 200));
    }
    sock.close();
    const res = await flood;
    const local = await waitFor(() => {
      const n = rows(v, "origin='local'").length;
      return n >= 500 ? n : 0;
    }, 5000);
    assert.equal(local, 500);
    const fromFlood = rows(v, 'origin_peer_id = ?', res.peerId).length;
    // ≤ 100/s with a burst of 100 over the time the flood really took (2 s at 750/s on an idle machine, longer
    // on a loaded one), plus 1 s for records still in flight; the cap must stay well below what was sent.
    const cap = 100 + 100 * (res.floodMs / 1000 + 1);
    assert.ok(cap < res.sent.length * 0.7, `the flood took ${Math.round(res.floodMs)} ms: too slow to test the cap`);
    assert.ok(fromFlood <= cap, `accepted ${fromFlood} of ${res.sent.length} in ${Math.round(res.floodMs)} ms`);
    assert.ok(fromFlood >= 100, `accepted only ${fromFlood}`);
    assert.ok((await metric(v, 'sipwarden_p2p_rate_limited_total')) > 0);
  });
});
