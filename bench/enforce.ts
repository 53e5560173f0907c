// Firewall enforcer benchmark (needs root: it runs nft in a network namespace it creates and deletes).
//  1. Probe-to-block latency: N new attacker addresses per second for S seconds are appended to a real store;
//     the time from append to the element being in the kernel set (the enforcer's nft run done), p50/p99.
//  2. Start-up reconcile of R qualifying addresses: block-set rebuild from the store + one nft transaction,
//     time and peak RSS, against `nft -f` of the same addresses in the `format=nftables` export form.
// Usage: node --import tsx bench/enforce.ts [--rate 1000] [--seconds 10] [--reconcile 500000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '10' }, reconcile: { type: 'string', default: '500000' } } });
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

async function rig(name: string, onApplied?: (ips: string[], at: number) => void) {
  const store = createSqliteStore({ path: join(dir, `${name}.db`), metrics: new Metrics({ processMetrics: false }), logger: log });
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
  return { store, set, enforcer };
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
  const fill = await rig('reconcile');
  for (let i = 0; i < reconcileN; i++) {
    fill.store.append(makeEvent({ sourceIp: ipOf(i + 1), transport: 'TCP', sourceVerified: true }));
    if (i % 5000 === 4999) await fill.store.flush();
  }
  await fill.store.flush();
  await fill.store.stop();

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
  const r = await rig('reconcile');
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

spawnSync('ip', ['netns', 'add', ns]);
try {
  await latency();
  if (reconcileN > 0) await reconcile();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
