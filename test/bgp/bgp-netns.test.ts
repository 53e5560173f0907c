/**
 * The BGP blackhole feed end to end, in namespaces this test creates, both ways of running it side by side on one
 * node and the same probes:
 * - stream mode: ExaBGP (in the sensor namespace S, the shipped deploy/exabgp/exabgp.conf) runs
 *   `sipwarden bgp-feed --api …`, which follows the node's API stream; BIRD 2 in router namespace R.
 * - node mode: the node runs the feed itself (`--bgp-feed-socket`); a second ExaBGP in S (the shipped
 *   deploy/exabgp/exabgp-node-feed.conf) runs the relay `sipwarden bgp-feed --socket …`; BIRD 2 in namespace R2.
 * Each ExaBGP holds an eBGP session carrying IPv4 and IPv6 with its BIRD (the shipped deploy/bird/bird.conf).
 * Attackers in namespace A probe S. Verified probes get routes with BLACKHOLE into both BIRDs (in node mode
 * within 2 s of the probe's reply, measured per address); TTL expiry withdraws them; special-purpose and
 * allow-listed sources are never announced; the feed process (or relay) killed, BIRD restarted and the node
 * stopped all end with exactly the right routes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, ROOT, cleanup, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';

const tag = `${process.pid % 100000}`;
const NS_A = `swBgpA${tag}`;
const NS_S = `swBgpS${tag}`;
const NS_R = `swBgpR${tag}`;
const NS_R2 = `swBgpQ${tag}`;
const TOKEN = 'bgp-test-token-0123456789';
// Lab addresses: 198.51.100.0/24 and 2001:db8:1::/64 are documentation ranges, which the feed refuses unless
// allowed (--bgp-allow-prefix); 10.9.9.0/24 stays refused (a private range is never announced).
const S4 = '198.51.100.1';
const S6 = '2001:db8:1::1';
const A4 = (n: number): string => `198.51.100.${n}`;
const A6 = (n: number): string => `2001:db8:1::${n.toString(16)}`;
const PRIVATE = '10.9.9.9';
const ALLOWED = A4(20);
const TTL = 45;

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return (r.stdout ?? '') + (r.stderr ?? '');
}

/** A verified probe: one OPTIONS over TCP from `src` (TCP proves the source address). */
const PROBE_JS = `
const net = require('node:net');
const [host, port, src] = process.argv.slice(1);
const h = host.includes(':') ? '[' + host + ']' : host;
const id = Math.random().toString(16).slice(2);
const c = net.connect({ host, port: +port, localAddress: src, timeout: 3000 });
c.on('connect', () => c.write('OPTIONS sip:100@' + h + ' SIP/2.0\\r\\nVia: SIP/2.0/TCP x.invalid;branch=z9hG4bK' + id + '\\r\\nFrom: <sip:p@x.invalid>;tag=' + id + '\\r\\nTo: <sip:100@x.invalid>\\r\\nCall-ID: ' + id + '@bgp\\r\\nCSeq: 1 OPTIONS\\r\\nUser-Agent: bgp-e2e\\r\\nContent-Length: 0\\r\\n\\r\\n'));
c.on('data', () => { const t = Date.now(); c.destroy(); process.stdout.write(String(t)); process.exit(0); });
c.on('timeout', () => { c.destroy(); process.exit(1); });
c.on('error', () => process.exit(1));
`;
/** Probes from `src`; returns when the reply arrived (ms since the epoch). */
function probe(src: string): number {
  const host = src.includes(':') ? S6 : src.startsWith('10.') ? '10.9.9.1' : S4;
  return Number(sh('ip', ['netns', 'exec', NS_A, process.execPath, '-e', PROBE_JS, host, '5060', src]).trim());
}
/** The node-run feed's bound from the probe's reply to the route in BIRD. */
const NODE_FEED_BOUND_MS = 2_000;

describe('BGP blackhole feed: ExaBGP + BIRD (netns e2e)', { timeout: 540_000 }, () => {
  const dir = tempDir('sipwarden-bgp-');
  const feedSocket = join(dir, 'feed.sock');
  let daemon: Daemon | null = null;

  /** One BIRD router and the ExaBGP that peers with it. */
  interface Side {
    name: string;
    ns: string;
    birdSock: string;
    birdConf: string;
    exabgp: ChildProcess | null;
    bird: ChildProcess | null;
  }
  const stream: Side = { name: 'stream', ns: NS_R, birdSock: join(dir, 'bird.ctl'), birdConf: join(dir, 'bird.conf'), exabgp: null, bird: null };
  const node: Side = { name: 'node', ns: NS_R2, birdSock: join(dir, 'bird2.ctl'), birdConf: join(dir, 'bird2.conf'), exabgp: null, bird: null };
  const sides = [stream, node];

  /** Routes a BIRD holds from the feed: prefix → communities text. */
  function birdRoutes(side: Side): Map<string, string> {
    const out = sh('ip', ['netns', 'exec', side.ns, 'birdc', '-s', side.birdSock, 'show', 'route', 'all', 'protocol', 'sipwarden_feed'], true);
    const routes = new Map<string, string>();
    let current: string | null = null;
    for (const line of out.split('\n')) {
      const m = /^([0-9a-f.:]+\/[0-9]+)\s/.exec(line);
      if (m) current = m[1]!;
      else if (/^\s+unreachable|^\s+blackhole/.test(line) === false) {
        const ip = /^\s*([0-9a-f.:]+\/[0-9]+)\s/.exec(line);
        if (ip) current = ip[1]!;
      }
      const c = /BGP\.community: (.*)$/.exec(line);
      if (c && current) routes.set(current, c[1]!);
    }
    return routes;
  }

  /** The routes the feed should hold now: the block set's snapshot (from the stream), minus what is refused. */
  function expectedRoutes(): string[] {
    const js = `fetch('http://127.0.0.1:8082/api/v1/blocklist/stream', { headers: { authorization: 'Bearer ${TOKEN}' } }).then(async (r) => {
      const rd = r.body.getReader(); let buf = '';
      for (;;) { const { value } = await rd.read(); buf += Buffer.from(value).toString(); const i = buf.indexOf('event: snapshot-end');
        if (i >= 0 && buf.indexOf('\\n\\n', i) > 0) break; }
      const snap = buf.slice(0, buf.indexOf('event: snapshot-end'));
      const ips = [...snap.matchAll(/"ip":"([^"]+)"/g)].map((m) => m[1]); process.stdout.write(JSON.stringify(ips)); process.exit(0); })`;
    const ips = JSON.parse(sh('ip', ['netns', 'exec', NS_S, process.execPath, '-e', js])) as string[];
    return ips.filter((ip) => ip !== PRIVATE && ip !== ALLOWED && !ip.startsWith('127.')).map((ip) => `${ip}/${ip.includes(':') ? 128 : 32}`).sort();
  }
  const held = (side: Side): string[] => [...birdRoutes(side).keys()].sort();
  const same = (a: string[], b: string[]): boolean => JSON.stringify(a) === JSON.stringify(b);

  /** The node's /metrics (the node-run feed's counters are there). */
  function nodeMetric(name: string): number {
    const js = `fetch('http://127.0.0.1:8082/metrics', { headers: { authorization: 'Bearer ${TOKEN}' } }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const text = sh('ip', ['netns', 'exec', NS_S, process.execPath, '-e', js]);
    const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  }

  function startBird(side: Side): void {
    side.bird = spawn('ip', ['netns', 'exec', side.ns, 'bird', '-f', '-c', side.birdConf, '-s', side.birdSock], { stdio: 'ignore' });
  }

  async function startSipwarden(): Promise<Daemon> {
    return startDaemon(['-r', '--no-tls', '--sip-listen', '0.0.0.0:5060', '--sip-listen', '[::]:5060', '-a', '--api-listen', '127.0.0.1:8082',
      '--api-token', TOKEN, '--api-rate-limit', '0', '--block-ttl', String(TTL), '--allow', ALLOWED,
      '--bgp-feed-socket', feedSocket, '--bgp-allow-prefix', '198.51.100.0/24', '--bgp-allow-prefix', '2001:db8:1::/64'],
    { prefix: ['ip', 'netns', 'exec', NS_S], dataDir: join(dir, 'data'), expect: { tcp: 2, http: 1 } });
  }

  /** The process an ExaBGP runs as its API process (a child of ExaBGP). */
  function feedPid(side: Side): number | null {
    const exa = side.exabgp?.pid;
    if (!exa) return null;
    // ExaBGP runs under `ip netns exec`, which execs it in place: same pid.
    for (const t of readdirSync(`/proc/${exa}/task`)) {
      for (const c of readFileSync(`/proc/${exa}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
        if (readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('bgp-feed')) return Number(c);
      }
    }
    return null;
  }

  /** Waits until `prefix` is in the side's BIRD; returns when the `birdc` run that saw it ended. */
  async function routeSeen(side: Side, prefix: string, timeoutMs: number): Promise<number> {
    return waitFor(() => (birdRoutes(side).has(prefix) ? Date.now() : null), timeoutMs, 100);
  }

  before(async () => {
    for (const ns of [NS_A, NS_S, NS_R, NS_R2]) {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['link', 'add', `ba${tag}`, 'netns', NS_A, 'type', 'veth', 'peer', 'name', `bs${tag}`, 'netns', NS_S]);
    sh('ip', ['link', 'add', `bt${tag}`, 'netns', NS_S, 'type', 'veth', 'peer', 'name', `br${tag}`, 'netns', NS_R]);
    sh('ip', ['link', 'add', `bu${tag}`, 'netns', NS_S, 'type', 'veth', 'peer', 'name', `bq${tag}`, 'netns', NS_R2]);
    sh('ip', ['-n', NS_S, 'addr', 'add', `${S4}/24`, 'dev', `bs${tag}`]);
    sh('ip', ['-n', NS_S, 'addr', 'add', '10.9.9.1/24', 'dev', `bs${tag}`]);
    sh('ip', ['-n', NS_S, 'addr', 'add', `${S6}/64`, 'dev', `bs${tag}`, 'nodad']);
    for (const n of [10, 11, 12, 13, 20]) sh('ip', ['-n', NS_A, 'addr', 'add', `${A4(n)}/24`, 'dev', `ba${tag}`]);
    sh('ip', ['-n', NS_A, 'addr', 'add', `${PRIVATE}/24`, 'dev', `ba${tag}`]);
    sh('ip', ['-n', NS_A, 'addr', 'add', `${A6(10)}/64`, 'dev', `ba${tag}`, 'nodad']);
    sh('ip', ['-n', NS_S, 'addr', 'add', '203.0.113.1/30', 'dev', `bt${tag}`]);
    sh('ip', ['-n', NS_R, 'addr', 'add', '203.0.113.2/30', 'dev', `br${tag}`]);
    // The node-mode pair: the shipped configs with the second link's addresses.
    sh('ip', ['-n', NS_S, 'addr', 'add', '203.0.113.5/30', 'dev', `bu${tag}`]);
    sh('ip', ['-n', NS_R2, 'addr', 'add', '203.0.113.6/30', 'dev', `bq${tag}`]);
    for (const [ns, dev] of [[NS_A, `ba${tag}`], [NS_S, `bs${tag}`], [NS_S, `bt${tag}`], [NS_R, `br${tag}`], [NS_S, `bu${tag}`], [NS_R2, `bq${tag}`]] as const) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);

    const birdConf = readFileSync(join(ROOT, 'deploy', 'bird', 'bird.conf'), 'utf8');
    writeFileSync(stream.birdConf, birdConf);
    writeFileSync(node.birdConf, birdConf.replace(/203\.0\.113\.2\b/g, '203.0.113.6').replace(/203\.0\.113\.1\b/g, '203.0.113.5'));

    daemon = await startSipwarden();
    for (const side of sides) startBird(side);
    // The shipped ExaBGP configs, with this checkout's daemon as the feed (stream mode: the lab prefixes allowed).
    const streamConf = readFileSync(join(ROOT, 'deploy', 'exabgp', 'exabgp.conf'), 'utf8').replace(
      /^\s*run [^;]+;/m,
      `run ${process.execPath} ${MAIN} bgp-feed --api http://127.0.0.1:8082 --api-token ${TOKEN} --bgp-allow-prefix 198.51.100.0/24 --bgp-allow-prefix 2001:db8:1::/64 --bgp-metrics-listen 127.0.0.1:9179;`,
    );
    const nodeConf = readFileSync(join(ROOT, 'deploy', 'exabgp', 'exabgp-node-feed.conf'), 'utf8')
      .replace(/^\s*run [^;]+;/m, `run ${process.execPath} ${MAIN} bgp-feed --socket ${feedSocket};`)
      .replace(/203\.0\.113\.2\b/g, '203.0.113.6')
      .replace(/203\.0\.113\.1\b/g, '203.0.113.5');
    for (const [side, conf] of [[stream, streamConf], [node, nodeConf]] as const) {
      writeFileSync(join(dir, `exabgp-${side.name}.conf`), conf);
      side.exabgp = spawn('ip', ['netns', 'exec', NS_S, 'exabgp', join(dir, `exabgp-${side.name}.conf`)], {
        stdio: ['ignore', openSync(join(dir, `exabgp-${side.name}.log`), 'w'), 'ignore'],
        env: { ...process.env, 'exabgp.daemon.user': 'root', 'exabgp.daemon.drop': 'false', 'exabgp.log.destination': 'stdout', 'exabgp.api.cli': 'false' },
      });
    }
    for (const side of sides) {
      await waitFor(() => sh('ip', ['netns', 'exec', side.ns, 'birdc', '-s', side.birdSock, 'show', 'protocols', 'sipwarden_feed'], true).includes('Established'), 90_000, 250).catch((err: unknown) => {
        const bird = sh('ip', ['netns', 'exec', side.ns, 'birdc', '-s', side.birdSock, 'show', 'protocols', 'all', 'sipwarden_feed'], true);
        throw new Error(`${String(err)} (${side.name})\nBIRD:\n${bird}\nExaBGP log:\n${readFileSync(join(dir, `exabgp-${side.name}.log`), 'utf8').split('\n').slice(-30).join('\n')}`);
      });
    }
    // The node-mode relay is connected and its feed started (the full, still empty, set sent).
    await waitFor(() => nodeMetric('sipwarden_bgp_feed_restarts_total') >= 1, 20_000, 250);
  });

  after(async () => {
    await daemon?.stop('SIGTERM', 8_000).catch(() => {});
    for (const side of sides) for (const p of [side.exabgp, side.bird]) if (p && p.exitCode === null) p.kill('SIGKILL');
    for (const ns of [NS_A, NS_S, NS_R, NS_R2]) sh('ip', ['netns', 'del', ns], true);
    cleanup(dir);
  });

  test('verified probes put /32 and /128 routes with BLACKHOLE and NO_EXPORT into BIRD; the node-run feed within 2 s', async () => {
    // One address at a time, so each one's time from the probe's reply to its route is its own.
    const took: Record<string, number> = {};
    for (const [src, prefix] of [[A4(10), `${A4(10)}/32`], [A6(10), `${A6(10)}/128`]] as const) {
      const replied = probe(src);
      took[prefix] = (await routeSeen(node, prefix, 20_000)) - replied;
    }
    for (const side of sides) {
      const routes = await waitFor(() => {
        const r = birdRoutes(side);
        return r.has(`${A4(10)}/32`) && r.has(`${A6(10)}/128`) ? r : null;
      }, 20_000, 100);
      assert.match(routes.get(`${A4(10)}/32`)!, /\(65535,666\)/, side.name);
      assert.match(routes.get(`${A4(10)}/32`)!, /\(65535,65281\)/, side.name); // NO_EXPORT
      assert.match(routes.get(`${A6(10)}/128`)!, /\(65535,666\)/, side.name);
      const all = sh('ip', ['netns', 'exec', side.ns, 'birdc', '-s', side.birdSock, 'show', 'route', 'all', `${A4(10)}/32`]);
      assert.match(all, /BGP\.next_hop: 192\.0\.2\.1/);
      assert.match(all, /blackhole/);
    }
    // Upper bounds: each includes up to one 100 ms polling interval and the `birdc` run that saw the route.
    process.stderr.write(`# node-run feed, probe reply to route in BIRD: ${JSON.stringify(took)} ms (load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})\n`);
    for (const [prefix, ms] of Object.entries(took)) assert.ok(ms <= NODE_FEED_BOUND_MS, `${prefix}: ${ms} ms from the probe's reply to the route`);
  });

  test('private, loopback and allow-listed sources are never announced; refusals are counted', async () => {
    probe(PRIVATE);
    probe(ALLOWED);
    sh('ip', ['netns', 'exec', NS_S, process.execPath, '-e', PROBE_JS, '127.0.0.1', '5060', '127.0.0.1']);
    probe(A4(11)); // a marker that the feeds have caught up
    for (const side of sides) {
      await waitFor(() => birdRoutes(side).has(`${A4(11)}/32`), 20_000, 100);
      const r = birdRoutes(side);
      for (const p of [`${PRIVATE}/32`, `${ALLOWED}/32`, '127.0.0.1/32']) assert.ok(!r.has(p), `${p} announced (${side.name})`);
    }
    const metrics = sh('ip', ['netns', 'exec', NS_S, process.execPath, '-e', "fetch('http://127.0.0.1:9179/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))"]);
    assert.match(metrics, /sipwarden_bgp_refusals_total\{reason="special_purpose"\} [1-9]/);
    assert.match(metrics, /sipwarden_bgp_feed_restarts_total 1/);
    assert.ok(nodeMetric('sipwarden_bgp_refusals_total{reason="special_purpose"}') >= 1);
    assert.ok(nodeMetric('sipwarden_bgp_announcements_total{family="6"}') >= 1);
    assert.equal(nodeMetric('sipwarden_bgp_feed_relays'), 1);
  });

  test('the feed process (stream) and the relay (node) killed: ExaBGP restarts them and BIRD ends with exactly the block set', async () => {
    const restarts = nodeMetric('sipwarden_bgp_feed_restarts_total');
    const pids = new Map<Side, number>();
    for (const side of sides) pids.set(side, await waitFor(() => feedPid(side), 10_000));
    for (const pid of pids.values()) process.kill(pid, 'SIGKILL');
    for (const side of sides) {
      await waitFor(() => {
        const p = feedPid(side);
        return p !== null && p !== pids.get(side);
      }, 30_000, 200);
    }
    // A new feed start in the node: its counter grows.
    await waitFor(() => nodeMetric('sipwarden_bgp_feed_restarts_total') > restarts, 20_000, 250);
    probe(A4(12)); // proves the new processes follow the block set
    for (const side of sides) {
      await waitFor(() => birdRoutes(side).has(`${A4(12)}/32`), 20_000, 100);
      await waitFor(() => same(held(side), expectedRoutes()), 10_000, 250);
    }
  });

  test('BIRD restarted: the session comes back and the full set is announced again', async () => {
    assert.ok(held(stream).length >= 3);
    // Fresh hits first: the routes must outlive the restart (on a loaded machine the earlier ones can reach their
    // TTL while BIRD comes back, and an empty set proves nothing).
    for (const n of [10, 11, 12]) probe(A4(n));
    probe(A6(10));
    const fresh = [`${A4(10)}/32`, `${A4(11)}/32`, `${A4(12)}/32`, `${A6(10)}/128`];
    await waitFor(() => fresh.every((p) => expectedRoutes().includes(p)), 20_000, 250);
    stream.bird!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    startBird(stream);
    await waitFor(() => {
      const h = held(stream);
      return fresh.every((p) => h.includes(p)) && same(h, expectedRoutes());
    }, 60_000, 250);
  });

  test('the node stopped: both feeds keep the routes, withdraw nothing, and follow again after a restart', async () => {
    const before = sides.map((side) => held(side));
    await daemon!.stop('SIGTERM', 8_000);
    // Meanwhile the stream feed retries the API and the relay the node's socket; ExaBGP is told nothing.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.deepEqual(sides.map((side) => held(side)), before);
    daemon = await startSipwarden();
    probe(A4(13));
    for (const side of sides) {
      await waitFor(() => birdRoutes(side).has(`${A4(13)}/32`), 45_000, 100).catch((err: unknown) => {
        throw new Error(`${String(err)} (${side.name})\nExaBGP log:\n${readFileSync(join(dir, `exabgp-${side.name}.log`), 'utf8').split('\n').slice(-40).join('\n')}`);
      });
      await waitFor(() => same(held(side), expectedRoutes()), 10_000, 250);
    }
  });

  test('TTL expiry withdraws the routes', async () => {
    // Every address above was last seen more than TTL seconds ago by the time this waits out.
    for (const side of sides) await waitFor(() => birdRoutes(side).size === 0, (TTL + 30) * 1000, 250);
  });
});

describe('bgp-feed start-up errors', () => {
  test('a next hop that is not an address is one line, exit 2', () => {
    const r = spawnSync(process.execPath, [MAIN, 'bgp-feed', '--api', 'http://127.0.0.1:1', '--bgp-next-hop4', 'not-an-ip'], { encoding: 'utf8', timeout: 20_000, input: '' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--bgp-next-hop4/);
  });
  test('--socket without its path is one line naming it, exit 2', () => {
    const r = spawnSync(process.execPath, [MAIN, 'bgp-feed', '--socket'], { encoding: 'utf8', timeout: 20_000, input: '' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--socket/);
  });
  test('a node whose --bgp-feed-socket cannot be created is one line naming it, exit 2', () => {
    const data = tempDir('sipwarden-bgpsock-');
    try {
      for (const path of [join(data, 'missing', 'feed.sock'), join(data, 'x'.repeat(120) + '.sock')]) {
        const r = spawnSync(process.execPath, [MAIN, '-R', '--data-dir', data, '--bgp-feed-socket', path], { encoding: 'utf8', timeout: 20_000, input: '' });
        assert.equal(r.status, 2, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr, /--bgp-feed-socket/);
      }
    } finally {
      cleanup(data);
    }
  });
  test('an --api that is not a URL is one line, exit 2', () => {
    const r = spawnSync(process.execPath, [MAIN, 'bgp-feed', '--api=ftp://x'], { encoding: 'utf8', timeout: 20_000, input: '' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--api/);
  });
});
