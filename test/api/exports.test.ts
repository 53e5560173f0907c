/**
 * Blocklist exports and the APIBAN feed: every format and filter, TTLs from last seen, streaming, and the real
 * thing — the nftables script loaded with `nft -f` in a network namespace blocks UDP from a second namespace
 * over a veth pair until the timeout passes; the ipset output loads with `ipset restore`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { http } from './client.js';
import { harness, type Harness } from './harness.js';

const HOUR = 3_600_000_000;

describe('blocklist formats and filters', { timeout: 60_000 }, () => {
  let h: Harness;
  const now = Date.UTC(2026, 10, 24, 12, 0, 0) * 1000;
  before(async () => {
    h = await harness({ allow: ['192.0.2.0/24'] }, { now: () => now });
    h.tdb.insert([
      { sourceIp: '203.0.113.7', timeUs: now - 600_000_000 }, // 10 min ago
      { sourceIp: '203.0.113.7', timeUs: now - 300_000_000, transport: 'TCP' }, // 5 min ago, verified
      { sourceIp: '198.51.100.1', timeUs: now - 2 * HOUR },
      { sourceIp: '2001:db8::1', timeUs: now - 30 * 24 * HOUR }, // 30 days ago: outside the default 7-day TTL
      { sourceIp: '2001:db8::2', timeUs: now - HOUR, transport: 'TLS' },
      { sourceIp: '192.0.2.5', timeUs: now - 60_000_000 }, // allow-listed
    ]);
  });
  after(async () => h.close());

  const body = async (q: string): Promise<{ status: number; body: string; type: string }> => {
    const r = await h.api.app.inject({ method: 'GET', url: `/api/v1/blocklist${q}` });
    return { status: r.statusCode, body: r.body, type: String(r.headers['content-type']) };
  };

  test('plain (default): newest first, TTL window, allow-listed excluded', async () => {
    const r = await body('');
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; charset=utf-8');
    assert.equal(r.body, '203.0.113.7\n2001:db8::2\n198.51.100.1\n');
  });

  test('filters: since, min_hits, transports, verified, family, ttl', async () => {
    assert.equal((await body('?min_hits=2')).body, '203.0.113.7\n');
    assert.equal((await body('?verified=true')).body, '203.0.113.7\n2001:db8::2\n');
    assert.equal((await body('?transports=TLS')).body, '2001:db8::2\n');
    assert.equal((await body('?transports=udp,tls')).body, '203.0.113.7\n2001:db8::2\n198.51.100.1\n');
    assert.equal((await body('?family=6')).body, '2001:db8::2\n');
    assert.equal((await body('?family=4')).body, '203.0.113.7\n198.51.100.1\n');
    assert.equal((await body('?since=2026-11-24T11:30:00Z')).body, '203.0.113.7\n');
    assert.equal((await body('?ttl=5400')).body, '203.0.113.7\n2001:db8::2\n');
    assert.equal((await body(`?ttl=${40 * 86400}`)).body, '203.0.113.7\n2001:db8::2\n198.51.100.1\n2001:db8::1\n');
  });

  test('csv, jsonl, json carry TTL = ttl − time since last seen', async () => {
    const csv = await body('?format=csv&ttl=3601');
    assert.equal(csv.type, 'text/csv; charset=utf-8');
    assert.equal(csv.body, 'ip,first_seen,last_seen,count,verified,ttl\n' +
      '203.0.113.7,2026-11-24T11:50:00.000000Z,2026-11-24T11:55:00.000000Z,2,true,3301\n' +
      '2001:db8::2,2026-11-24T11:00:00.000000Z,2026-11-24T11:00:00.000000Z,1,true,1\n');
    const jsonl = await body('?format=jsonl&ttl=7200');
    assert.equal(jsonl.type, 'application/x-ndjson');
    const lines = jsonl.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { ip: string; ttl: number; count: number });
    assert.deepEqual(lines.map((l) => [l.ip, l.ttl, l.count]), [['203.0.113.7', 6900, 2], ['2001:db8::2', 3600, 1]]);
    const json = await body('?format=json&ttl=7200');
    const parsed = JSON.parse(json.body) as { total: number; entries: { ip: string }[] };
    assert.equal(parsed.total, 2);
    assert.deepEqual(parsed.entries.map((e) => e.ip), ['203.0.113.7', '2001:db8::2']);
  });

  test('ipset and nftables scripts: names, timeouts, sets only', async () => {
    const ipset = await body('?format=ipset&ttl=3601');
    assert.match(ipset.body, /^create sipwarden4 hash:ip family inet hashsize 1024 maxelem 1048576 timeout 604800 -exist$/m);
    assert.match(ipset.body, /^create sipwarden6 hash:ip family inet6 /m);
    assert.match(ipset.body, /^add sipwarden4 203\.0\.113\.7 timeout 3301 -exist$/m);
    assert.match(ipset.body, /^add sipwarden6 2001:db8::2 timeout 1 -exist$/m);
    const nft = await body('?format=nftables&table=edge&set4=bad4&set6=bad6&rules=false');
    assert.match(nft.body, /^table inet edge \{/m);
    assert.match(nft.body, /^flush set inet edge bad4$/m);
    assert.match(nft.body, /^add element inet edge bad4 \{ 203\.0\.113\.7 timeout \d+s, 198\.51\.100\.1 timeout \d+s \}$/m);
    assert.match(nft.body, /^add element inet edge bad6 \{ 2001:db8::2 timeout \d+s \}$/m);
    assert.doesNotMatch(nft.body, /chain input/);
    assert.doesNotMatch(nft.body, /192\.0\.2\.5/);
  });
});

describe('blocklist streaming and APIBAN walk', { timeout: 120_000 }, () => {
  let h: Harness;
  let port: number;
  const N = 1234;
  before(async () => {
    h = await harness({ apiTokens: ['k3y'] });
    const base = Date.now() * 1000 - 3_600_000_000;
    h.tdb.insert(Array.from({ length: N }, (_, i) => ({ sourceIp: `10.2.${i >> 8}.${i & 255}`, timeUs: base + (i % 100) * 1000 })));
    h.tdb.insert(Array.from({ length: 2500 }, (_, i) => ({ sourceIp: `10.3.${i >> 8}.${i & 255}`, timeUs: base - 30 * 24 * 3_600_000_000 })));
    await h.api.start();
    port = h.api.addresses()[0]!.port;
  });
  after(async () => h.close());

  test('a big export is streamed chunked', async () => {
    const r = await http(port, `/api/v1/blocklist?format=nftables&ttl=${60 * 86400}`, { headers: { authorization: 'Bearer k3y' } });
    assert.equal(r.status, 200);
    assert.equal(r.header('transfer-encoding'), 'chunked');
    assert.equal(r.header('content-length'), undefined);
    const elems = (r.body.match(/ timeout \d+s/g) ?? []).length;
    assert.equal(elems, N + 2500);
  });

  test('APIBAN: batches of 250 walked to the documented end, then only new addresses', async () => {
    const seen: string[] = [];
    let path = '/api/k3y/banned';
    let batches = 0;
    for (;;) {
      const r = await http(port, path);
      if (r.status === 400) {
        assert.equal(r.body, '{"ipaddress":["no new bans"], "ID":"none"}');
        break;
      }
      assert.equal(r.status, 200, r.body);
      const b = JSON.parse(r.body) as { ipaddress: string[]; ID: string };
      assert.ok(b.ipaddress.length <= 250 && b.ipaddress.length > 0);
      assert.match(b.ID, /^\d+$/);
      seen.push(...b.ipaddress);
      path = `/api/k3y/banned/${b.ID}`;
      batches++;
      assert.ok(batches < 100);
    }
    assert.equal(batches, Math.ceil(N / 250));
    assert.equal(seen.length, N);
    assert.equal(new Set(seen).size, N);
    // A new sighting appears after the last ID, and only it.
    h.tdb.insert([{ sourceIp: '10.99.0.1' }]);
    const next = await http(port, path);
    assert.equal(next.status, 200);
    assert.deepEqual((JSON.parse(next.body) as { ipaddress: string[] }).ipaddress, ['10.99.0.1']);
    // APIBAN clients start from an arbitrary ID such as "100": that means from the start.
    const start = await http(port, '/api/k3y/banned/100');
    assert.equal((JSON.parse(start.body) as { ipaddress: string[] }).ipaddress.length, 250);
    // The key is the token; a wrong one is answered as APIBAN does.
    const bad = await http(port, '/api/wrong/banned');
    assert.equal(bad.status, 403);
    assert.equal(bad.body, '{"ipaddress":"none", "ID":"unauthorized"}');
  });
});

/** Runs a command, throwing with its stderr on failure. */
function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
}

describe('firewall exports in network namespaces', { timeout: 120_000 }, () => {
  const id = randomBytes(3).toString('hex');
  const nsA = `swapiA-${id}`; // attacker
  const nsB = `swapiB-${id}`; // protected host: firewall + UDP listener
  const vA = `swa${id}`;
  const vB = `swb${id}`;
  let h: Harness;
  let listener: ChildProcess | null = null;
  let received = 0;

  before(async () => {
    sh('ip', ['netns', 'add', nsA]);
    sh('ip', ['netns', 'add', nsB]);
    sh('ip', ['link', 'add', vA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vB, 'netns', nsB]);
    sh('ip', ['-n', nsA, 'addr', 'add', '198.18.0.1/30', 'dev', vA]);
    sh('ip', ['-n', nsB, 'addr', 'add', '198.18.0.2/30', 'dev', vB]);
    sh('ip', ['-n', nsA, '-6', 'addr', 'add', '2001:db8:5::1/64', 'dev', vA, 'nodad']);
    sh('ip', ['-n', nsB, '-6', 'addr', 'add', '2001:db8:5::2/64', 'dev', vB, 'nodad']);
    for (const [ns, dev] of [[nsA, vA], [nsB, vB]] as const) {
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    // UDP listener in B: prints one line per datagram (v4 and v6).
    listener = spawn('ip', ['netns', 'exec', nsB, process.execPath, '-e', `
      const d = require('node:dgram');
      for (const [t, a] of [['udp4', '0.0.0.0'], ['udp6', '::']]) {
        const s = d.createSocket({ type: t, ipv6Only: t === 'udp6' });
        s.on('message', () => process.stdout.write('R\\n'));
        s.bind(5060, a, () => process.stdout.write('B\\n'));
      }
      setTimeout(() => process.exit(0), 110000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bound = 0;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('listener did not bind')), 10_000);
      listener!.stdout!.setEncoding('utf8').on('data', (d: string) => {
        for (const c of d.split('\n')) {
          if (c === 'B' && ++bound === 2) (clearTimeout(t), resolve());
          if (c === 'R') received++;
        }
      });
    });
    h = await harness();
  });

  after(async () => {
    if (listener?.pid) {
      try {
        process.kill(listener.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    for (const ns of [nsA, nsB]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    await h?.close();
  });

  /** Sends 20 datagrams from A to B and returns how many B's listener got. */
  async function send(to: string): Promise<number> {
    const before = received;
    sh('ip', ['netns', 'exec', nsA, process.execPath, '-e', `
      const s = require('node:dgram').createSocket('${to.includes(':') ? 'udp6' : 'udp4'}');
      let n = 0;
      const go = () => s.send('OPTIONS sip:100@x SIP/2.0\\r\\n\\r\\n', 5060, '${to}', () => { if (++n < 20) go(); else s.close(); });
      go();
    `]);
    await new Promise((r) => setTimeout(r, 400));
    return received - before;
  }

  test('nftables export blocks v4 and v6 UDP from the listed sources until the timeout passes', async () => {
    // Links come up (ARP/ND) within a few hundred ms; until both families pass, nothing is proven.
    for (const to of ['198.18.0.2', '2001:db8:5::2']) {
      const deadline = Date.now() + 10_000;
      while ((await send(to)) !== 20) assert.ok(Date.now() < deadline, `${to}: traffic passes before loading`);
    }
    h.tdb.insert([{ sourceIp: '198.18.0.1' }, { sourceIp: '2001:db8:5::1' }, { sourceIp: '203.0.113.50' }]);
    const r = await h.api.app.inject({ method: 'GET', url: '/api/v1/blocklist?format=nftables&ttl=10' }); // long enough for a loaded machine to check both families
    assert.equal(r.statusCode, 200);
    const file = join(h.tdb.dir, 'blocklist.nft');
    writeFileSync(file, r.body);
    sh('ip', ['netns', 'exec', nsB, 'nft', '-f', file]);
    // Loading twice is idempotent (the table is replaced atomically).
    sh('ip', ['netns', 'exec', nsB, 'nft', '-f', file]);
    const listed = sh('ip', ['netns', 'exec', nsB, 'nft', 'list', 'set', 'inet', 'sipwarden', 'blocklist4']);
    assert.match(listed, /198\.18\.0\.1 timeout (10|[5-9])s/);
    assert.equal(await send('198.18.0.2'), 0, 'blocked after loading');
    assert.equal(await send('2001:db8:5::2'), 0, 'v6 blocked after loading');
    const deadline = Date.now() + 25_000;
    while (/198\.18\.0\.1/.test(sh('ip', ['netns', 'exec', nsB, 'nft', 'list', 'set', 'inet', 'sipwarden', 'blocklist4']))) {
      assert.ok(Date.now() < deadline, 'element expired');
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.equal(await send('198.18.0.2'), 20, 'passes again after the timeout');
    assert.equal(await send('2001:db8:5::2'), 20, 'v6 passes again after the timeout');
  });

  test('ipset export loads with ipset restore', async () => {
    h.tdb.insert([{ sourceIp: '198.18.0.1' }, { sourceIp: '2001:db8:5::1' }, { sourceIp: '203.0.113.50' }]);
    const r = await h.api.app.inject({ method: 'GET', url: '/api/v1/blocklist?format=ipset&ttl=600' });
    assert.equal(r.statusCode, 200);
    sh('ip', ['netns', 'exec', nsB, 'ipset', 'restore'], r.body);
    sh('ip', ['netns', 'exec', nsB, 'ipset', 'restore'], r.body); // idempotent (-exist)
    const v4 = sh('ip', ['netns', 'exec', nsB, 'ipset', 'list', 'sipwarden4']);
    assert.match(v4, /^198\.18\.0\.1 timeout (59\d|600)$/m);
    assert.match(v4, /^203\.0\.113\.50 timeout \d+$/m);
    const v6 = sh('ip', ['netns', 'exec', nsB, 'ipset', 'list', 'sipwarden6']);
    assert.match(v6, /^2001:db8:5::1 timeout \d+$/m);
  });
});
