/**
 * sipwarden in SentryPeer's OpenDHT network, end to end, inside a network namespace this test creates (only its
 * loopback is up, so OpenDHT's local peer discovery cannot leave it): `dhtnode` as the bootstrap node, a stand-in
 * SentryPeer node written with python3-opendht (test/p2p/fixtures/sentrypeer_dht_peer.py), and three sipwarden
 * daemons — `opendht` (default trust), `both` with `--trust-opendht`, and a libp2p-only peer of the second.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatEventTimestamp, newUuid } from '../../src/events/event.js';
import { SENTRYPEER_KEYS } from '../../src/p2p/opendht/value.js';
import { cleanup, MAIN, ROOT, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { runTool } from '../helpers/net.js';

const NS = `swDht${process.pid % 100_000}`;
/** `ip` arguments that run a command in the namespace; `['ip', ...inNs()]` is the daemon's prefix. */
const inNs = (...args: string[]): string[] => ['netns', 'exec', NS, ...args];
const PEER_SCRIPT = join(ROOT, 'test', 'p2p', 'fixtures', 'sentrypeer_dht_peer.py');
// The namespace is this test's own: every port in it is free.
const BOOT = 14222;
const STANDIN = 14223;
const D1 = { sip: 5060, api: 8082, dht: 4222 };
const D2 = { sip: 5070, api: 8083, dht: 4232, p2p: 4232 };
const D3 = { sip: 5080, api: 8084, p2p: 4242 };
const SP_NODE = 'a6f1f5c2-3c1e-4f47-9d0e-0c8f5b2b9d11';

function sh(cmd: string, args: string[], okToFail = false): void {
  const r = spawnSync(cmd, args, { stdio: 'pipe', timeout: 15_000 });
  if (r.status !== 0 && !okToFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
}

/** GET inside the namespace (the API listens on the namespace's loopback). */
async function nsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const js = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))`;
  const r = await runTool('ip', ['netns', 'exec', NS, process.execPath, '-e', js], 15_000);
  if (r.code !== 0) throw new Error(`GET ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

async function events(port: number, query = ''): Promise<Record<string, unknown>[]> {
  const r = await nsGet(port, `/api/v1/events?limit=1000${query}`);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { events: Record<string, unknown>[] }).events;
}

async function metric(port: number, name: string): Promise<number> {
  const r = await nsGet(port, '/metrics');
  let sum = 0;
  for (const line of r.body.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The stand-in SentryPeer node: values it received, and a way to put values. */
class StandIn {
  readonly values: string[] = [];
  private buf = '';
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const m = JSON.parse(line) as { type: string; data?: string };
        if (m.type === 'value') this.values.push(m.data!);
      }
    });
  }
  put(text: string): void {
    this.proc.stdin!.write(JSON.stringify({ put: text }) + '\n');
  }
  flood(n: number, texts: string[]): void {
    this.proc.stdin!.write(JSON.stringify({ flood: n, data: texts }) + '\n');
  }
}

/** A value exactly as a SentryPeer node publishes it. */
function spValue(over: Record<string, string> = {}): string {
  return JSON.stringify({
    app_name: 'sentrypeer', app_version: 'v4.0.4', event_timestamp: formatEventTimestamp(BigInt(Date.now()) * 1_000_000n),
    event_uuid: newUuid(), created_by_node_id: SP_NODE, collected_method: 'responsive', transport_type: 'UDP',
    source_ip: '198.51.100.7', destination_ip: '192.0.2.10', called_number: '0046812118532', sip_method: 'INVITE',
    sip_user_agent: 'friendly-scanner', sip_message: 'INVITE sip:0046812118532@192.0.2.10 SIP/2.0\r\n\r\n', ...over,
  });
}

function rssKb(pid: number): number {
  // The daemon runs under `ip netns exec`, which execs node in place: same pid.
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

describe('OpenDHT engine against a private DHT (netns e2e)', { timeout: 240_000 }, () => {
  const dirs: string[] = [];
  const procs: ChildProcess[] = [];
  let d1: Daemon;
  let d2: Daemon;
  let d3: Daemon;
  let standIn: StandIn;

  before(async () => {
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    const boot = spawn('ip', inNs('dhtnode', '-s', '-p', String(BOOT)), { stdio: ['ignore', 'ignore', 'ignore'] });
    procs.push(boot);
    const py = spawn('ip', inNs('/usr/bin/python3', PEER_SCRIPT, String(STANDIN), '127.0.0.1', String(BOOT)), { stdio: ['pipe', 'pipe', 'inherit'] });
    procs.push(py);
    standIn = new StandIn(py);
    const common = ['-r', '-a', '--no-tls', '--api-rate-limit', '0'];
    for (let i = 0; i < 3; i++) dirs.push(tempDir());
    [d1, d2] = await Promise.all([
      startDaemon([...common, '--sip-listen', `127.0.0.1:${D1.sip}`, '--api-listen', `127.0.0.1:${D1.api}`, '-p', '--p2p-engine', 'opendht',
        '-b', `127.0.0.1:${BOOT}`, '--opendht-port', String(D1.dht), '--opendht-rate', '10'], { prefix: ['ip', ...inNs()], dataDir: dirs[0]!, expect: { udp: 1, http: 1 } }),
      startDaemon([...common, '--sip-listen', `127.0.0.1:${D2.sip}`, '--api-listen', `127.0.0.1:${D2.api}`, '-p', '--p2p-engine', 'both',
        '--p2p-listen', `127.0.0.1:${D2.p2p}`, '--opendht-bootstrap', `127.0.0.1:${BOOT}`, '--opendht-port', String(D2.dht), '--trust-opendht'],
      { prefix: ['ip', ...inNs()], dataDir: dirs[1]!, expect: { udp: 1, http: 1, p2p: 1 } }),
    ]);
    d3 = await startDaemon([...common, '--sip-listen', `127.0.0.1:${D3.sip}`, '--api-listen', `127.0.0.1:${D3.api}`, '-p',
      '--p2p-listen', `127.0.0.1:${D3.p2p}`, '-b', d2.endpoint('p2p').addr], { prefix: ['ip', ...inNs()], dataDir: dirs[2]!, expect: { udp: 1, http: 1, p2p: 1 } });
    // The libp2p pair is connected when D3 lists D2 as a connected peer.
    await waitFor('libp2p connection', async () => {
      const r = await nsGet(D3.api, '/api/v1/peers');
      return (JSON.parse(r.body) as { peers: { connected_since: string | null }[] }).peers.some((p) => p.connected_since !== null);
    }, 20_000);
  });

  after(async () => {
    for (const d of [d1, d2, d3]) await d?.stop('SIGTERM', 8_000).catch(() => {});
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    sh('ip', ['netns', 'del', NS], true);
    for (const d of dirs) cleanup(d);
  });

  it('prints its DHT node and shows it on /api/v1/peers', async () => {
    assert.match(d1.stderr(), /sipwarden: listening opendht udp\/4222 node [0-9a-f]{40}/);
    const r = JSON.parse((await nsGet(D1.api, '/api/v1/peers')).body) as { opendht: Record<string, unknown> };
    assert.equal(r.opendht.port, D1.dht);
    assert.deepEqual(r.opendht.bootstrap, [`127.0.0.1:${BOOT}`]);
    await waitFor('bootstrap ping', async () => {
      const p = JSON.parse((await nsGet(D1.api, '/api/v1/peers')).body) as { opendht: { bootstrap_state: string } };
      return p.opendht.bootstrap_state === 'connected';
    }, 15_000);
    const none = JSON.parse((await nsGet(D3.api, '/api/v1/peers')).body) as { opendht: unknown };
    assert.equal(none.opendht, null);
  });

  it('publishes a probe in SentryPeer\'s exact format: 13 string keys in order', async () => {
    const r = await runTool('ip', inNs('sipsak', '-s', `sip:0046812118532@127.0.0.1:${D1.sip}`), 10_000);
    assert.ok(!r.timedOut);
    const text = await waitFor('the stand-in to receive the probe', async () =>
      standIn.values.find((v) => v.includes('"created_by_node_id"') && JSON.parse(v).created_by_node_id !== SP_NODE && JSON.parse(v).called_number === '0046812118532'), 10_000);
    const v = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(v), [...SENTRYPEER_KEYS]);
    for (const k of SENTRYPEER_KEYS) assert.equal(typeof v[k], 'string', k);
    assert.equal(v.source_ip, '127.0.0.1');
    assert.equal(v.sip_method, 'OPTIONS');
    assert.equal(v.app_name, 'sipwarden');
    const local = await events(D1.api, '&origin=local');
    assert.ok(local.some((e) => e.event_uuid === v.event_uuid));
  });

  it('stores a SentryPeer value once, as origin opendht with the sender\'s fields, and ignores its own', async () => {
    const value = spValue({ source_ip: '198.51.100.23' });
    const uuid = (JSON.parse(value) as { event_uuid: string }).event_uuid;
    standIn.put(value);
    const got = await waitFor('the value stored on node 1', async () => (await events(D1.api, '&origin=opendht')).find((e) => e.event_uuid === uuid), 5_000);
    assert.equal(got.source_ip, '198.51.100.23');
    assert.equal(got.created_by_node_id, SP_NODE);
    assert.equal(got.collected_method, 'responsive');
    assert.equal(got.source_verified, false);
    assert.equal(got.origin_peer_id, null);
    standIn.put(value); // the same value again
    const own = spValue({ created_by_node_id: (JSON.parse(standIn.values.find((v) => JSON.parse(v).app_name === 'sipwarden')!) as { created_by_node_id: string }).created_by_node_id, source_ip: '198.51.100.99' });
    standIn.put(own);
    await new Promise((r) => setTimeout(r, 2_000));
    const all = await events(D1.api, '&origin=opendht');
    assert.equal(all.filter((e) => e.event_uuid === uuid).length, 1);
    assert.equal(all.filter((e) => e.source_ip === '198.51.100.99').length, 0);
    assert.ok((await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="duplicate"}')) >= 1);
  });

  it('keeps an OpenDHT-only address out of the blocklist unless --trust-opendht', async () => {
    const value = spValue({ source_ip: '203.0.113.77' });
    standIn.put(value);
    await waitFor('node 1 stored it', async () => (await events(D1.api, '&origin=opendht')).some((e) => e.source_ip === '203.0.113.77'));
    await waitFor('node 2 stored it', async () => (await events(D2.api, '&origin=opendht')).some((e) => e.source_ip === '203.0.113.77'));
    const b1 = (await nsGet(D1.api, '/api/v1/blocklist')).body;
    const b2 = (await nsGet(D2.api, '/api/v1/blocklist')).body;
    assert.ok(!b1.split('\n').includes('203.0.113.77'), b1);
    assert.ok(b2.split('\n').includes('203.0.113.77'), b2);
  });

  it('with both engines: a probe reaches the libp2p peer and the DHT; a DHT value never reaches the libp2p peer', async () => {
    await runTool('ip', inNs('sipsak', '-s', `sip:4433@127.0.0.1:${D2.sip}`), 10_000);
    const onD2 = await waitFor('the local event on node 2', async () => (await events(D2.api, '&origin=local')).find((e) => e.called_number === '4433'));
    await waitFor('the libp2p peer to get it', async () => (await events(D3.api, '&origin=peer')).some((e) => e.event_uuid === onD2.event_uuid), 10_000);
    await waitFor('the DHT to get it', async () => standIn.values.some((v) => v.includes(onD2.event_uuid as string)), 10_000);
    const value = spValue({ source_ip: '203.0.113.88' });
    standIn.put(value);
    await waitFor('node 2 stored the DHT value', async () => (await events(D2.api, '&origin=opendht')).some((e) => e.source_ip === '203.0.113.88'));
    await new Promise((r) => setTimeout(r, 2_500));
    const d3all = await events(D3.api);
    assert.equal(d3all.filter((e) => e.source_ip === '203.0.113.88').length, 0);
    assert.equal(d3all.filter((e) => e.origin === 'opendht').length, 0);
    assert.equal(d3all.filter((e) => e.source_ip === '198.51.100.23').length, 0);
  });

  it('survives hostile values and a flood: refused by reason, capped, capture unaffected, memory bounded', async () => {
    const rssBefore = rssKb(d1.pid);
    standIn.put('{"app_name": ');
    standIn.put(JSON.stringify({ ...JSON.parse(spValue()), source_ip: 42 }));
    standIn.put(spValue({ source_ip: '300.1.2.3' }));
    standIn.put(spValue({ event_timestamp: '2099-01-01 00:00:00.000000000' }));
    standIn.put(spValue({ sip_user_agent: 'u'.repeat(20_000) }));
    standIn.put(spValue({ sip_message: 'x'.repeat(1_000_000) })); // beyond OpenDHT's own 64 KiB value limit
    const flood: string[] = [];
    for (let i = 0; i < 10_000; i++) flood.push(spValue({ source_ip: `198.18.${(i >> 8) & 255}.${i & 255}`, created_by_node_id: i % 2 ? SP_NODE : newUuid() }));
    standIn.flood(10_000, flood);
    // Capture goes on during the flood.
    const probe = await runTool('ip', inNs('sipsak', '-s', `sip:7777@127.0.0.1:${D1.sip}`), 10_000);
    assert.ok(!probe.timedOut);
    await waitFor('the probe stored', async () => (await events(D1.api, '&origin=local')).some((e) => e.called_number === '7777'), 10_000);
    await waitFor('values refused by reason', async () =>
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="malformed"}')) >= 1 &&
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="bad_key_type"}')) >= 1 &&
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="bad_ip"}')) >= 1 &&
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="future_timestamp"}')) >= 1 &&
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="field_too_long"}')) >= 1, 15_000);
    // Node 1 accepts 10 values/s (1 per sending node): the flood is capped, counted by reason.
    await waitFor('capped values', async () =>
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="total_rate"}')) > 0 &&
      (await metric(D1.api, 'sipwarden_opendht_values_rejected_total{reason="sender_rate"}')) > 0, 15_000);
    const received = await metric(D1.api, 'sipwarden_opendht_values_received_total');
    const accepted = await metric(D1.api, 'sipwarden_opendht_values_accepted_total');
    assert.ok(accepted < received, `accepted ${accepted} of ${received}`);
    const rssAfter = rssKb(d1.pid);
    assert.ok(rssAfter < rssBefore + 200 * 1024, `RSS grew from ${rssBefore} kB to ${rssAfter} kB`);
  });

  it('stops cleanly: listen cancelled, node shut down and deleted, exit 0 on SIGTERM', async () => {
    const code = await d1.stop('SIGTERM', 8_000);
    assert.equal(code, 0, d1.stderr());
  });
});

/** Runs the daemon to its exit with extra environment; resolves exit code and stderr. */
function runDaemon(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stderr });
    });
  });
}

describe('OpenDHT engine start-up errors', { timeout: 60_000 }, () => {
  it('a missing OpenDHT library is one line naming the Debian package, exit 2, before anything listens', async () => {
    const dir = tempDir();
    try {
      const r = await runDaemon(['-p', '--p2p-engine', 'opendht', '-b', '127.0.0.1:9', '--opendht-peer-discovery', 'off',
        '--opendht-port', '0', '--sip-listen', '127.0.0.1:0', '--no-tls', '--data-dir', dir], { SIPWARDEN_OPENDHT_LIBRARY: 'libopendht-c-absent.so.2' });
      assert.equal(r.code, 2, r.stderr);
      // The start-up summary may come first; the error is one line, and nothing listened.
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.filter((l) => l.includes('error')).length, 1, r.stderr);
      assert.match(lines.at(-1)!, /^sipwarden: error: .*libopendht-c2/);
      assert.ok(!r.stderr.includes('listening'), r.stderr);
    } finally {
      cleanup(dir);
    }
  });

  it('SentryPeer\'s bootstrap host with the libp2p engine is one line naming --p2p-engine opendht, exit 2', async () => {
    const r = await runDaemon(['-p', '-b', 'bootstrap.sentrypeer.org', '--sip-listen', '127.0.0.1:0', '--no-tls', '--data-dir', tempDir()]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--p2p-engine opendht/);
  });

  it('a libp2p multiaddr with the opendht engine is one line, exit 2', async () => {
    const r = await runDaemon(['-p', '--p2p-engine', 'opendht', '-b', '/ip4/127.0.0.1/tcp/4222', '--sip-listen', '127.0.0.1:0', '--no-tls', '--data-dir', tempDir()]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /multiaddr/);
  });
});
