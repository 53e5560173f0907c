/**
 * `npm run bench -- bgp`: the BGP feed against BIRD 2 over a real eBGP session, in network namespaces this bench
 * creates (S: ExaBGP and the feed; R: BIRD), using the shipped deploy/bird/bird.conf.
 * - Full-set announce of N routes (default 100,000; 198.18.0.0/15, allowed for the lab with --bgp-allow-prefix):
 *   time until `birdc` counts all of them, for `sipwarden bgp-feed` (reading a snapshot from the node's stream
 *   route, registerBlockStreamRoute, over an in-memory block set) against ExaBGP announcing the same routes from
 *   static configuration, in the same run.
 * - Change-to-route latency at 500 new addresses/s for 10 s: from the change entering the block set to the route
 *   in BIRD (birdc polled 50 ms after each run ends, without blocking the bench, so figures carry the polling).
 * - Both again with the feed in the node: the feed socket server (src/bgp/socket-server.ts) over the same block
 *   set, and ExaBGP running the relay `sipwarden bgp-feed --socket`.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { registerBlockStreamRoute } from '../src/api/blockstream.js';
import { FeedMetrics } from '../src/bgp/feed.js';
import { createFeedSocketServer } from '../src/bgp/socket-server.js';
import { createLogger } from '../src/log.js';
import type { BlockChange, BlockEntry, BlockSet } from '../src/enforce/blockset.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist', 'main.js');
const N = Number(process.env.BENCH_BGP_ROUTES ?? 100_000);
const RATE = Number(process.env.BENCH_BGP_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_BGP_SECONDS ?? 10);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const addr = (i: number): string => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
/**
 * The change phase's addresses: index CHANGE_BASE on, i.e. 198.19.192.0/18, a range the full set (index 0 to
 * N - 1) never reaches, so every address measured is new to BIRD.
 */
const CHANGE_BASE = 65_536 + 49_152;
const CHANGE_NET = '198.19.192.0/18';
if (N > CHANGE_BASE || RATE * SECONDS > 8_192) throw new Error(`BENCH_BGP_ROUTES ≤ ${CHANGE_BASE} and RATE × SECONDS ≤ 8192, so the phases do not overlap`);
const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

/** A block set in memory: `push` adds addresses (one change each) and tells the stream's readers. */
function memorySet(): BlockSet & { push(ips: string[]): void } {
  let seq = 1;
  const entries = new Map<string, BlockEntry>();
  const history: BlockChange[] = [];
  const listeners = new Set<(c: readonly BlockChange[]) => void>();
  const expiresAtMs = Date.now() + 86_400_000;
  return {
    async start() {},
    async stop() {},
    get seq() {
      return seq;
    },
    snapshot: () => ({ seq, entries: [...entries.values()] }),
    changesSince: (from) => (from >= seq ? [] : history.length && history[0]!.seq <= from + 1 ? history.filter((c) => c.seq > from) : null),
    size: (f) => [...entries.values()].filter((e) => e.family === f).length,
    has: (ip) => entries.has(ip),
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    sweep() {},
    evictedCount: () => 0,
    push(ips) {
      const lastHitMs = Date.now();
      const cs = ips.map((ip): BlockChange => ({ seq: ++seq, op: 'add', ip, family: 4, expiresAtMs, lastHitMs }));
      for (const c of cs) entries.set(c.ip, { ip: c.ip, family: 4, expiresAtMs, lastHitMs });
      if (cs.length === 1) history.push(cs[0]!);
      for (const l of listeners) l(cs);
    },
  };
}

async function inside(nsR: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-bgp-'));
  const sock = join(dir, 'bird.ctl');
  const procs: ChildProcess[] = [];
  const birdcAsync = (...args: string[]): Promise<string> =>
    new Promise((resolve) => execFile('ip', ['netns', 'exec', nsR, 'birdc', '-s', sock, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }, (_err, out) => resolve(out ?? '')));
  const startBird = (): ChildProcess => {
    const b = spawn('ip', ['netns', 'exec', nsR, 'bird', '-f', '-c', join(ROOT, 'deploy', 'bird', 'bird.conf'), '-s', sock], { stdio: 'ignore' });
    procs.push(b);
    return b;
  };
  const env = { ...process.env, 'exabgp.daemon.user': 'root', 'exabgp.daemon.drop': 'false', 'exabgp.log.level': 'WARNING' };
  const exabgp = (conf: string): ChildProcess => {
    writeFileSync(join(dir, 'exabgp.conf'), conf);
    const p = spawn('exabgp', [join(dir, 'exabgp.conf')], { stdio: 'ignore', env });
    procs.push(p);
    return p;
  };
  const neighbor = (extra: string): string => `neighbor 203.0.113.2 {\n router-id 203.0.113.1;\n local-address 203.0.113.1;\n local-as 64512;\n peer-as 64513;\n family { ipv4 unicast; ipv6 unicast; }\n${extra}\n}\n`;
  /** Waits until BIRD counts `n` routes; returns ms from `t0` (or NaN after the bound). */
  const until = async (n: number, t0: number, boundMs: number): Promise<number> => {
    while (Date.now() - t0 < boundMs) {
      if (Number(/(\d+) of \d+ routes/.exec(await birdcAsync('show', 'route', 'protocol', 'sipwarden_feed', 'count'))?.[1] ?? 0) >= n) return Date.now() - t0;
      await sleep(100);
    }
    return NaN;
  };
  try {
    // Baseline: ExaBGP's own static routes.
    let bird = startBird();
    await sleep(500);
    const routes = Array.from({ length: N }, (_, i) => `  route ${addr(i)}/32 next-hop 192.0.2.1 community [65535:666 no-export];`).join('\n');
    let t0 = Date.now();
    let ex = exabgp(neighbor(` static {\n${routes}\n }`));
    const base = await until(N, t0, 600_000);
    ex.kill('SIGKILL');
    bird.kill('SIGKILL');
    await sleep(1000);

    // sipwarden bgp-feed, following the node's stream route (src/api/blockstream.ts) over an in-memory block set
    // holding the same addresses.
    const set = memorySet();
    set.push(Array.from({ length: N }, (_, i) => addr(i)));
    // Open stream connections are closed with the server (they never end by themselves).
    const app = Fastify({ forceCloseConnections: true });
    registerBlockStreamRoute(app, set);
    await app.listen({ port: 18082, host: '127.0.0.1' });
    bird = startBird();
    await sleep(500);
    t0 = Date.now();
    ex = exabgp(`process feed {\n run ${process.execPath} ${MAIN} bgp-feed --api http://127.0.0.1:18082 --bgp-allow-prefix 198.18.0.0/15 --bgp-max-routes ${N + RATE * SECONDS + 10};\n encoder text;\n}\n` +
      neighbor(' api { processes [ feed ]; neighbor-changes; }'));
    const ours = await until(N, t0, 600_000);
    console.log(`full-set announce of ${N} routes into BIRD: ExaBGP static ${(base / 1000).toFixed(1)} s, sipwarden bgp-feed ${(ours / 1000).toFixed(1)} s, ratio ${(ours / base).toFixed(2)} (target ≤ 1.3)`);

    /** Change-to-route latency: RATE new addresses/s for SECONDS, from index CHANGE_BASE + offset. */
    const changes = async (label: string, offset: number): Promise<void> => {
      const sent = new Map<string, number>();
      const lat: number[] = [];
      const total = RATE * SECONDS;
      // Polled without blocking this process: in the second phase the feed itself runs here.
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const out = await birdcAsync('show', 'route', 'protocol', 'sipwarden_feed', 'where', `net ~ ${CHANGE_NET}`);
          const now = Date.now();
          for (const m of out.matchAll(/^(198\.19\.\d+\.\d+)\/32/gm)) {
            const t = sent.get(m[1]!);
            if (t !== undefined) {
              lat.push(now - t);
              sent.delete(m[1]!);
            }
          }
          await sleep(50);
        }
      })();
      const start = Date.now();
      for (let i = 0; i < total; i++) {
        const ip = addr(CHANGE_BASE + offset + i);
        sent.set(ip, Date.now());
        set.push([ip]);
        const due = start + ((i + 1) * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      const end = Date.now() + 15_000;
      while (sent.size > 0 && Date.now() < end) await sleep(100);
      polling = false;
      await poll;
      console.log(`${label}: change-to-route at ${RATE} new addresses/s for ${SECONDS} s: ${lat.length}/${total} in BIRD, p50 ${q(lat, 0.5)} ms, p99 ${q(lat, 0.99)} ms (target p99 ≤ 2,000 ms; capture-to-commit adds the store batch, see the enforce bench)`);
    };
    await changes('sipwarden bgp-feed (API stream)', 0);
    await app.close();
    ex.kill('SIGKILL');
    bird.kill('SIGKILL');
    await sleep(1000);

    // The feed in the node: the socket server over the same block set (with the first phase's addresses too),
    // ExaBGP running the relay.
    const feedSock = join(dir, 'feed.sock');
    const server = createFeedSocketServer({
      path: feedSock,
      blockSet: set,
      settings: { nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: true, aggregateMin: 0, maxRoutes: N + 2 * RATE * SECONDS + 10, allowPrefixes: ['198.18.0.0/15'] },
      metrics: new FeedMetrics(undefined, 'node'),
      logger: createLogger('silent'),
    });
    await server.start();
    bird = startBird();
    await sleep(500);
    const all = N + RATE * SECONDS;
    t0 = Date.now();
    ex = exabgp(`process feed {\n run ${process.execPath} ${MAIN} bgp-feed --socket ${feedSock};\n encoder text;\n}\n` +
      neighbor(' api { processes [ feed ]; neighbor-changes; }'));
    const inNode = await until(all, t0, 600_000);
    console.log(`full-set announce of ${all} routes into BIRD, feed in the node: ${(inNode / 1000).toFixed(1)} s (ExaBGP static ${N} routes: ${(base / 1000).toFixed(1)} s)`);
    await changes('feed in the node (block set, relay)', RATE * SECONDS);
    await server.stop();
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'inside') {
  inside(process.argv[3]!).then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  const tag = process.pid % 100_000;
  const nsS = `swBgpBS${tag}`;
  const nsR = `swBgpBR${tag}`;
  const sh = (...a: string[]): void => void spawnSync('ip', a, { stdio: 'inherit' });
  try {
    sh('netns', 'add', nsS);
    sh('netns', 'add', nsR);
    sh('link', 'add', `bbs${tag}`, 'netns', nsS, 'type', 'veth', 'peer', 'name', `bbr${tag}`, 'netns', nsR);
    sh('-n', nsS, 'addr', 'add', '203.0.113.1/30', 'dev', `bbs${tag}`);
    sh('-n', nsR, 'addr', 'add', '203.0.113.2/30', 'dev', `bbr${tag}`);
    for (const [ns, dev] of [[nsS, `bbs${tag}`], [nsR, `bbr${tag}`]]) {
      sh('-n', ns!, 'link', 'set', 'lo', 'up');
      sh('-n', ns!, 'link', 'set', dev!, 'up');
    }
    const r = spawnSync('ip', ['netns', 'exec', nsS, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'inside', nsR], { stdio: 'inherit', timeout: 1_500_000 });
    process.exitCode = r.status ?? 1;
  } finally {
    sh('netns', 'del', nsS);
    sh('netns', 'del', nsR);
  }
}
