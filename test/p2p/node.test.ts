// test-runner: exclusive (gossip scores and rate caps are timed; other files' load starved honest peers here)
/**
 * Component tests of the P2P node: real libp2p nodes on loopback (in this process, each with its own sqlite
 * file), real gossip, real catch-up streams. Multi-process tests against the daemon are in e2e.test.ts.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { generateKey } from '@libp2p/pnet';
import type { Config } from '../../src/config/types.js';
import type { HoneypotEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createP2pNode, type P2pNode, type P2pNodeInit } from '../../src/p2p/node.js';
import { createRecordSigner } from '../../src/p2p/record.js';
import { badRecords, createAdversary, validRecord } from './adversary.js';
import { createTestStore, sampleEvent, testConfig, type TestStore } from './helpers.js';

interface TestNode {
  node: P2pNode;
  store: TestStore;
  metrics: Metrics;
  got: HoneypotEvent[];
  dir: string;
  addr: string;
}

const dirs: string[] = [];
const running: TestNode[] = [];
after(async () => {
  for (const n of running) await n.node.stop().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startNode(
  over: Partial<Config> = {},
  opts: Partial<P2pNodeInit> & { dir?: string; store?: TestStore } = {},
): Promise<TestNode> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sipwarden-p2p-'));
  if (!opts.dir) dirs.push(dir);
  const store = opts.store ?? createTestStore(join(dir, 'sipwarden.db'));
  const metrics = new Metrics({ processMetrics: false });
  const got: HoneypotEvent[] = [];
  const node = createP2pNode({
    config: testConfig(dir, over),
    store,
    metrics,
    logger: createLogger('silent'),
    onPeerEvent: (e) => {
      got.push(e);
      store.append(e);
    },
    isAllowedSource: (ip) => ip === '192.0.2.99',
    announce: false,
    resyncIntervalMs: 0,
    redialMinMs: 200,
    ...opts,
  });
  await node.start();
  const t: TestNode = { node, store, metrics, got, dir, addr: node.multiaddrs()[0]! };
  running.push(t);
  return t;
}

async function waitFor<T>(fn: () => T, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const connected = (a: TestNode, b: TestNode): boolean => a.node.peers().some((p) => p.id === b.node.peerId && p.connectedSince !== null);
const metricValue = async (m: Metrics, name: string): Promise<number> =>
  ((await m.registry.getSingleMetric(name)?.get())?.values ?? []).reduce((s, v) => s + v.value, 0);

// A test that fails mid-way can leave a libp2p node listening, which would keep this file's process alive until the
// runner's file timeout: once everything here has run, give the stops 5 s, then end the process.
after(() => {
  setTimeout(() => process.exit(), 5_000).unref();
});

describe('p2p node', { timeout: 60_000 }, () => {
  test('gossip: a local event reaches two peers with the origin ids, allowed/peer events are not published', async () => {
    const a = await startNode();
    const b = await startNode({ bootstrap: [a.addr] });
    // host:port form, SentryPeer style.
    const port = /\/tcp\/(\d+)/.exec(a.addr)![1];
    const c = await startNode({ bootstrap: [`127.0.0.1:${port}`] });
    await waitFor(() => connected(b, a) && connected(c, a));
    await new Promise((r) => setTimeout(r, 1100)); // one heartbeat: mesh grafted
    const ev = sampleEvent(a.store.nodeId);
    a.node.offer(ev);
    a.node.offer(sampleEvent(a.store.nodeId, { sourceIp: '192.0.2.99' })); // --allow source: never shared
    a.node.offer(sampleEvent(a.store.nodeId, { origin: 'peer', originPeerId: 'x' })); // never republished
    const t0 = Date.now();
    await waitFor(() => b.got.length >= 1 && c.got.length >= 1, 2000);
    const ms = Date.now() - t0;
    for (const n of [b, c]) {
      const e = n.got[0]!;
      assert.equal(e.eventUuid, ev.eventUuid);
      assert.equal(e.origin, 'peer');
      assert.equal(e.originPeerId, a.node.peerId);
      assert.equal(e.createdByNodeId, a.store.nodeId);
      assert.equal(e.eventTimestamp, ev.eventTimestamp);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.got.length, 1, 'only the one shareable event arrives');
    assert.equal(c.got.length, 1);
    // Our own envelope is kept for catch-up; the receivers keep the original.
    const own = a.store.db.prepare('SELECT origin_peer_id, envelope FROM peer_records').all() as Array<{ origin_peer_id: string; envelope: string }>;
    assert.equal(own.length, 1);
    assert.equal(own[0]!.origin_peer_id, a.node.peerId);
    assert.equal(b.got[0]!.peerEnvelope, own[0]!.envelope);
    const pb = b.node.peers().find((p) => p.id === a.node.peerId)!;
    assert.equal(pb.recordsReceived, 1);
    assert.ok(pb.addresses.length > 0);
    assert.match(pb.connectedSince!, /^\d{4}-\d\d-\d\dT/);
    assert.equal(await metricValue(b.metrics, 'sipwarden_p2p_records_received_total'), 1);
    assert.ok(ms < 2000, `propagation took ${ms} ms`);
  });

  test('catch-up: a late joiner pages through everything, remembers the cursor, and fetches only new records later', async () => {
    const a = await startNode();
    for (let i = 0; i < 25; i++) a.node.offer(sampleEvent(a.store.nodeId));
    await waitFor(() => (a.store.db.prepare('SELECT COUNT(*) AS n FROM peer_records').get() as { n: number }).n === 25);
    const dir = mkdtempSync(join(tmpdir(), 'sipwarden-p2p-'));
    dirs.push(dir);
    const store = createTestStore(join(dir, 'sipwarden.db'));
    const b = await startNode({ bootstrap: [a.addr] }, { dir, store, syncPageSize: 10 });
    await waitFor(() => b.got.length === 25, 5000);
    const cursor = store.db.prepare('SELECT cursor FROM peer_cursors WHERE peer_id = ?').get(a.node.peerId) as { cursor: string };
    assert.equal(cursor.cursor, '25');
    // Order preserved (oldest first).
    const sentOrder = (a.store.db.prepare('SELECT event_uuid FROM peer_records ORDER BY record_id').all() as Array<{ event_uuid: string }>).map((r) => r.event_uuid);
    assert.deepEqual(b.got.map((e) => e.eventUuid), sentOrder);
    // Restart b on the same store: nothing is fetched twice; records a made meanwhile arrive.
    await b.node.stop();
    for (let i = 0; i < 3; i++) a.node.offer(sampleEvent(a.store.nodeId));
    await waitFor(() => (a.store.db.prepare('SELECT COUNT(*) AS n FROM peer_records').get() as { n: number }).n === 28);
    const b2 = await startNode({ bootstrap: [a.addr] }, { dir, store, syncPageSize: 10 });
    await waitFor(() => b2.got.length === 3, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b2.got.length, 3);
    assert.equal(store.events.length, 28);
  });

  test('identity: key file is 0600 and a restart keeps the PeerId', async () => {
    const a = await startNode();
    const id = a.node.peerId;
    assert.equal(statSync(join(a.dir, 'p2p-identity.key')).mode & 0o777, 0o600);
    await a.node.stop();
    const again = await startNode({}, { dir: a.dir, store: createTestStore(join(a.dir, 'second.db')) });
    assert.equal(again.node.peerId, id);
  });

  test('private network: same key connects, a node without it cannot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipwarden-p2p-key-'));
    dirs.push(dir);
    const keyFile = join(dir, 'swarm.key');
    const psk = new Uint8Array(95);
    generateKey(psk);
    writeFileSync(keyFile, psk);
    const a = await startNode({ p2pNetworkKey: keyFile });
    const b = await startNode({ p2pNetworkKey: keyFile, bootstrap: [a.addr] });
    const c = await startNode({ bootstrap: [a.addr] });
    await waitFor(() => connected(b, a));
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!connected(c, a), 'node without the key connected');
    assert.ok(!a.node.peers().some((p) => p.id === c.node.peerId));
    a.node.offer(sampleEvent(a.store.nodeId));
    await waitFor(() => b.got.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.got.length, 0);
  });

  test('allowlist: a peer not on the list is refused; records from it are never accepted', async () => {
    const bKey = await generateKeyPair('Ed25519');
    const bDir = mkdtempSync(join(tmpdir(), 'sipwarden-p2p-'));
    dirs.push(bDir);
    const { privateKeyToProtobuf } = await import('@libp2p/crypto/keys');
    writeFileSync(join(bDir, 'p2p-identity.key'), privateKeyToProtobuf(bKey), { mode: 0o600 });
    const bId = peerIdFromPrivateKey(bKey).toString();
    const a = await startNode({ p2pAllowPeers: [bId] });
    const b = await startNode({ bootstrap: [a.addr] }, { dir: bDir });
    const c = await startNode({ bootstrap: [a.addr] });
    await waitFor(() => connected(b, a));
    await new Promise((r) => setTimeout(r, 1100));
    a.node.offer(sampleEvent(a.store.nodeId));
    await waitFor(() => b.got.length === 1);
    await new Promise((r) => setTimeout(r, 500));
    // c keeps redialling; a refuses every time, so c never becomes a's peer and never gets a record.
    assert.ok(!connected(a, c), 'non-allowed peer connected');
    assert.equal(c.got.length, 0);
  });

  test('adversaries: unsigned, forged, oversized and malformed records are never stored; the sender is graylisted', async () => {
    const a = await startNode();
    const unsigned = await createAdversary(a.addr, { signed: false });
    const evil = await createAdversary(a.addr, { signed: true });
    await Promise.all([unsigned.waitMesh(), evil.waitMesh()]);
    await new Promise((r) => setTimeout(r, 1200));
    const u = validRecord(unsigned.signer);
    await unsigned.publish(u.bytes);
    const otherKey = await generateKeyPair('Ed25519');
    const other = createRecordSigner(peerIdFromPrivateKey(otherKey).toString(), otherKey.raw);
    const bad = badRecords(evil.signer, other);
    for (const r of bad) await evil.publish(r.bytes);
    await waitFor(() => a.node.peers().find((p) => p.id === evil.peerId)!.recordsRejected >= 3, 3000);
    await new Promise((r) => setTimeout(r, 300));
    const later = [validRecord(evil.signer), validRecord(evil.signer)];
    for (const r of later) await evil.publish(r.bytes);
    await new Promise((r) => setTimeout(r, 800));
    const stored = new Set(a.store.events.map((e) => e.eventUuid));
    const info0 = a.node.peers().find((p) => p.id === evil.peerId)!;
    for (const [i, r] of [u, ...bad, ...later].entries()) assert.ok(!stored.has(r.uuid), `record ${i} was stored; score ${info0.score}`);
    const info = a.node.peers().find((p) => p.id === evil.peerId)!;
    assert.ok(info.score < -80, `score ${info.score} not below the graylist threshold`);
    assert.ok((await metricValue(a.metrics, 'sipwarden_p2p_records_rejected_total')) >= 3);
    await unsigned.stop();
    await evil.stop();
  });

  test('rate cap: a flood from one peer is capped per second, another peer still gets through', async () => {
    const a = await startNode({}, { perPeerRecordsPerSecond: 20 });
    const flooder = await createAdversary(a.addr, { signed: true });
    const honest = await startNode({ bootstrap: [a.addr] });
    await flooder.waitMesh();
    await waitFor(() => connected(honest, a));
    await new Promise((r) => setTimeout(r, 1200));
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) await flooder.publish(validRecord(flooder.signer).bytes);
    honest.node.offer(sampleEvent(honest.store.nodeId));
    await new Promise((r) => setTimeout(r, 500));
    const secs = (performance.now() - t0) / 1000;
    const fromFlooder = a.got.filter((e) => e.originPeerId === flooder.peerId).length;
    assert.ok(fromFlooder <= 20 + Math.ceil(secs * 20) + 1, `accepted ${fromFlooder} in ${secs.toFixed(2)} s`);
    assert.ok(fromFlooder >= 10, `accepted only ${fromFlooder}`);
    assert.ok((await metricValue(a.metrics, 'sipwarden_p2p_rate_limited_total')) > 0);
    assert.ok(a.got.some((e) => e.originPeerId === honest.node.peerId), 'the honest peer was starved');
    await flooder.stop();
  });
});
