// Firewall enforcer benchmark (needs root: it runs nft in a network namespace it creates and deletes).
//  1. Probe-to-block latency: N new attacker addresses per second for S seconds are appended to a real store;
//     the time from append to the element being in the kernel set (the enforcer's nft run done), p50/p99.
//  2. Start-up reconcile of R qualifying addresses: block-set rebuild from the store + one nft transaction,
//     time and peak RSS, against `nft -f` of the same addresses in the `format=nftables` export form.
//  3. Capture with the enforcer on vs off (`--only capture`, not in the default run: it needs the built daemon,
//     `npm run build`): the daemon in a namespace, UDP OPTIONS from 250 addresses of a second namespace at
//     each of --capture-rates for --capture-seconds, rounds alternating off/on. With the enforcer on every source
//     qualifies (`--block-verified-only=false`); the default 10 s TTL makes each source's element refresh every
//     second (a refresh is published when it moves the expiry by a tenth of the TTL), so an nft transaction runs
//     about every second for the whole run; with `--capture-ttl 24h` only the first second adds elements. The drop rule is removed from the chain right
//     after start (the enforcer only changes elements), so both runs receive the same datagrams: otherwise blocked
//     sources would simply stop costing anything and make "on" look cheaper.
// Usage: node --import tsx bench/enforce.ts [--rate 1000] [--seconds 10] [--reconcile 500000]
//          [--only latency,reconcile,capture] [--reconcile-db FILE (filled on the first run, reused while it exists)]
//          [--capture-rates 10000,15000,20000] [--capture-seconds 5] [--capture-rounds 2] [--capture-ttl 10s]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatBlocklist } from '../src/api/format.js';
import { createBlockSet } from '../src/enforce/blockset.js';
import { createEnforcer } from '../src/enforce/enforcer.js';
import { execTool, type Exec } from '../src/enforce/exec.js';
import { createNftBackend } from '../src/enforce/nft.js';
import { DEFAULT_BLOCK_POLICY, Exclusions } from '../src/enforce/policy.js';
import { receiptTime } from '../src/events/event.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { makeEvent } from '../test/store/make-event.js';
import { cleanup } from '../test/helpers/daemon.js';
import { queryDb } from '../test/helpers/net.js';
import { blast } from './lib/blast.js';
import { startDaemon } from './lib/daemon.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '10' }, reconcile: { type: 'string', default: '500000' },
    only: { type: 'string', default: 'latency,reconcile' }, 'reconcile-db': { type: 'string' },
    'capture-rates': { type: 'string', default: '10000,15000,20000' }, 'capture-ttl': { type: 'string', default: '10s' }, 'capture-seconds': { type: 'string', default: '5' },
    'capture-rounds': { type: 'string', default: '2' },
  },
});
const parts = new Set(values.only.split(','));
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const reconcileN = Number(values.reconcile);
const ns = `swEnfBench${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-enforce-'));
const log = createLogger('warn');
/** Duration of the longest tool run through inNs since the last reset (the reconcile's one nft transaction). */
let longestExecMs = 0;
const inNs: Exec = async (file, args, input) => {
  const t = performance.now();
  const r = await execTool('ip', ['netns', 'exec', ns, file, ...args], input);
  longestExecMs = Math.max(longestExecMs, performance.now() - t);
  return r;
};
const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function rig(name: string, onApplied?: (ips: string[], at: number) => void, path = join(dir, `${name}.db`)) {
  const store = createSqliteStore({ path, metrics: new Metrics({ processMetrics: false }), logger: log });
  await store.start();
  const set = createBlockSet({
    onCommit: (l) => store.onCommit(l), facts: store.blockSetSource(), policy: { ...DEFAULT_BLOCK_POLICY, maxPerFamily: 1_000_000 },
    exclusions: new Exclusions(), logger: log,
  });
  const backend = createNftBackend({ table: 'swbench', priority: 'filter - 10', scope: 'all', ports: [], exec: inNs });
  const applyOrig = backend.apply.bind(backend);
  backend.apply = async (changes, now) => {
    await applyOrig(changes, now);
    onApplied?.(changes.filter((c) => c.op === 'add').map((c) => c.ip), performance.now());
  };
  const enforcer = createEnforcer({ backend, blockSet: set, logger: log });
  return { store, set, enforcer, backend };
}

async function latency(): Promise<void> {
  const appendedAt = new Map<string, number>();
  const lat: number[] = [];
  const toKernel: number[] = [];
  const r = await rig('latency', (ips, at) => {
    for (const ip of ips) {
      const t = appendedAt.get(ip);
      if (t !== undefined) lat.push(at - t);
      const s = setAt.get(ip);
      if (s !== undefined) toKernel.push(at - s);
    }
  });
  await r.set.start();
  await r.enforcer.start();
  // Where the time goes: append -> block-set change (store batch + commit + facts) vs -> kernel.
  const toSet: number[] = [];
  const setAt = new Map<string, number>();
  r.set.subscribe((changes) => {
    const now = performance.now();
    for (const c of changes) {
      const t = appendedAt.get(c.ip);
      if (c.op === 'add' && t !== undefined) {
        toSet.push(now - t);
        setAt.set(c.ip, now);
      }
    }
  });
  const total = rate * seconds;
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      for (; sent < due; sent++) {
        const ip = ipOf(sent + 1);
        const t = receiptTime();
        appendedAt.set(ip, performance.now());
        r.store.append(makeEvent({ sourceIp: ip, transport: 'TCP', sourceVerified: true, eventTimeUs: t.eventTimeUs, eventTimestamp: t.eventTimestamp }));
      }
      if (sent >= total) { clearInterval(tick); done(); }
    }, 5);
  });
  await r.store.flush();
  const end = performance.now() + 10_000;
  while (lat.length < total && performance.now() < end) await new Promise((res) => setTimeout(res, 50));
  await r.enforcer.idle();
  lat.sort((a, b) => a - b);
  toSet.sort((a, b) => a - b);
  toKernel.sort((a, b) => a - b);
  console.log(`  of which append -> block-set change (store batch, commit, policy): p50 ${pct(toSet, 50).toFixed(0)} ms, p99 ${pct(toSet, 99).toFixed(0)} ms`);
  console.log(`  of which block-set change -> in the kernel (coalescing, waiting for the run in flight, nft): p50 ${pct(toKernel, 50).toFixed(0)} ms, p99 ${pct(toKernel, 99).toFixed(0)} ms`);
  console.log(`probe-to-block: ${rate}/s for ${seconds} s: ${lat.length}/${total} blocked; p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms, max ${lat[lat.length - 1]!.toFixed(0)} ms (target p99 <= 1000 ms)`);
  await r.enforcer.stop();
  await r.set.stop();
  await r.store.stop();
}

async function reconcile(): Promise<void> {
  // Fill a store with reconcileN qualifying addresses (one verified event each).
  const dbPath = values['reconcile-db'] ?? join(dir, 'reconcile.db');
  if (!existsSync(dbPath)) {
    const fill = await rig('reconcile', undefined, dbPath);
    for (let i = 0; i < reconcileN; i++) {
      fill.store.append(makeEvent({ sourceIp: ipOf(i + 1), transport: 'TCP', sourceVerified: true }));
      if (i % 5000 === 4999) await fill.store.flush();
    }
    await fill.store.flush();
    await fill.store.stop();
  }

  // Baseline: nft -f of the same addresses in the export's nftables form (table created by the export itself).
  const nowUs = Date.now() * 1000;
  const entries = Array.from({ length: reconcileN }, (_, i) => ({ ip: ipOf(i + 1), firstSeenUs: nowUs, lastSeenUs: nowUs, count: 1, verified: true, ttl: 86_400 }));
  const file = join(dir, 'export.nft');
  writeFileSync(file, [...formatBlocklist('nftables', entries, entries.length, { table: 'swexport', set4: 'blocklist4', set6: 'blocklist6', rules: true, maxelem: 1_000_000 }, nowUs)].join(''));
  entries.length = 0;
  const b0 = performance.now();
  const base = spawnSync('/usr/bin/time', ['-f', '%M', 'ip', 'netns', 'exec', ns, 'nft', '-f', file], { encoding: 'utf8' });
  const baseMs = performance.now() - b0;
  const baseRss = Number(base.stderr.trim().split('\n').pop()) / 1024;
  if (base.status !== 0) throw new Error(`baseline nft -f failed: ${base.stderr}`);
  // Ours then runs with the same other kernel content the baseline had (not next to another 500,000-element set).
  spawnSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'swexport']);

  // Ours: block set rebuilt from the store, then the enforcer's start-up transaction.
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  const r = await rig('reconcile', undefined, dbPath);
  // A restart: sipwarden's table exists (the latency part left it, or it is created here), so the one-transaction
  // fast path runs, not the first-start path.
  await r.backend.setup();
  let peak = rssBefore;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20); }, 20);
  longestExecMs = 0;
  const o0 = performance.now();
  await r.set.start();
  const setMs = performance.now() - o0;
  await r.enforcer.start();
  const ourMs = performance.now() - o0;
  const nftMs = longestExecMs;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20);
  const listing = (await inNs('nft', ['-j', 'list', 'set', 'inet', 'swbench', 'blocklist4'])).stdout;
  const listed = (listing.match(/"elem":/g) ?? []).length - 1; // one "elem" key is the list itself
  console.log(`reconcile ${reconcileN}: ours ${ourMs.toFixed(0)} ms (block set ${setMs.toFixed(0)} ms, the one nft transaction ${nftMs.toFixed(0)} ms, the rest building it), node RSS ${rssBefore.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; baseline nft -f of the export ${baseMs.toFixed(0)} ms (nft max RSS ${baseRss.toFixed(0)} MiB); ratio ${(ourMs / baseMs).toFixed(2)}x (target <= 1.5x); block set ${r.set.size(4)}, kernel set ${listed}`);
  await r.enforcer.stop();
  await r.set.stop();
  await r.store.stop();
}

/** CPU seconds (user + system, all threads) a process has used so far (Linux /proc, 100 Hz ticks). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const nsA = `${ns}a`;
const sh = (args: string[]): string => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function captureRun(on: boolean, rate: number, secs: number, ttl: string) {
  const inB = ['ip', 'netns', 'exec', ns];
  const args = ['-r', '-j', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '10.77.0.1:0', '--no-tls', '--reply-rate-limit', '1000000'];
  if (on) args.push('--firewall', 'nftables', '--firewall-table', 'swcap', '--firewall-scope', 'all', '--firewall-cleanup', '--block-verified-only=false', '--block-ttl', ttl);
  const d = await startDaemon(args, { prefix: inB, expect: { udp: 1, http: 1 } });
  try {
    if (on) sh([...inB, 'nft', 'flush', 'chain', 'inet', 'swcap', 'input']);
    await new Promise((r) => setTimeout(r, 1000));
    const api = d.endpoint('http').port;
    const metric = (name: string): number => {
      const text = sh([...inB, 'curl', '-s', `http://127.0.0.1:${api}/metrics`]);
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      return sum;
    };
    const cpu0 = cpuSeconds(d.pid);
    const updates0 = on ? metric('sipwarden_firewall_updates_total') : 0;
    const b = await blast({ host: '10.77.0.1', port: d.endpoint('udp').port, seconds: secs, pps: rate, sources: 250, sourceBase: '10.77.1.0', prefix: ['ip', 'netns', 'exec', nsA] });
    await new Promise((r) => setTimeout(r, 1500));
    // Includes the store writer and the enforcer catching up after the blast.
    const cpu = cpuSeconds(d.pid) - cpu0;
    const received = metric('sipwarden_sip_events_total') + metric('sipwarden_sip_retransmissions_total');
    const updates = on ? metric('sipwarden_firewall_updates_total') - updates0 : 0;
    const failures = on ? metric('sipwarden_firewall_failures_total') : 0;
    const elements = on ? metric('sipwarden_firewall_elements') : 0;
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    return { sent: b.sent, received, stored, cpu, updates, failures, elements };
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

async function capture(): Promise<void> {
  const rates = values['capture-rates'].split(',').map(Number);
  const secs = Number(values['capture-seconds']);
  const ttl = values['capture-ttl'];
  sh(['ip', 'netns', 'add', nsA]);
  sh(['ip', 'link', 'add', 'swcapa', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'swcapb', 'netns', ns]);
  sh(['ip', '-n', ns, 'addr', 'add', '10.77.0.1/16', 'dev', 'swcapb']);
  const batch = join(dir, 'addrs.batch');
  writeFileSync(batch, Array.from({ length: 250 }, (_, i) => `addr add 10.77.1.${i + 1}/16 dev swcapa\n`).join(''));
  sh(['ip', '-n', nsA, '-batch', batch]);
  for (const [n, dev] of [[nsA, 'swcapa'], [ns, 'swcapb']] as const) {
    sh(['ip', '-n', n, 'link', 'set', dev, 'up']);
    sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
  }
  const pctS = (x: number): string => (100 * x).toFixed(2) + ' %';
  for (const rate of rates) {
    const best = { off: { ratio: 0, us: Infinity }, on: { ratio: 0, us: Infinity } };
    for (let round = 0; round < Number(values['capture-rounds']); round++) {
      for (const on of [false, true]) {
        const r = await captureRun(on, rate, secs, ttl);
        const ratio = r.stored / r.sent;
        const us = (r.cpu * 1e6) / Math.max(1, r.stored);
        const k = on ? 'on' : 'off';
        best[k].ratio = Math.max(best[k].ratio, ratio);
        best[k].us = Math.min(best[k].us, us);
        console.log(`  capture ${rate}/s x ${secs} s, enforcer ${k.padEnd(3)}: sent ${r.sent}, received ${r.received} (${pctS(r.received / r.sent)}), stored ${r.stored} (${pctS(ratio)}), CPU ${us.toFixed(1)} µs/stored event (all threads)` +
          (on ? `; nft transactions ${r.updates}, failures ${r.failures}, elements ${r.elements}` : ''));
      }
    }
    console.log(`capture ${rate}/s, TTL ${ttl}, best of the rounds: stored/sent on ${pctS(best.on.ratio)} vs off ${pctS(best.off.ratio)}, ratio ${(best.on.ratio / best.off.ratio).toFixed(3)} (target >= 0.95); CPU µs/event on ${best.on.us.toFixed(1)} vs off ${best.off.us.toFixed(1)} (${(best.on.us / best.off.us).toFixed(2)}x)`);
  }
}

spawnSync('ip', ['netns', 'add', ns]);
try {
  if (parts.has('latency')) await latency();
  if (parts.has('reconcile') && reconcileN > 0) await reconcile();
  if (parts.has('capture')) await capture();
} finally {
  spawnSync('ip', ['netns', 'del', nsA]);
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
