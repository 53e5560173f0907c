/**
 * `npm run bench -- hardening`: (1) worst-case CPU per message of the capture pipeline (parse, retransmission
 * check, responder, credential extraction, event building) over the fast-check hostile corpus up to the 64 KiB
 * datagram limit, against an ordinary 500-byte OPTIONS measured in the same run (target ≤ 1 ms per message);
 * (2) the sustained zero-loss UDP ingest rate of the built daemon against the bare baseline receiver, and, with
 * `BENCH_BEFORE_ROOT=<dir holding dist/ and node_modules/ of an earlier commit>`, of that earlier build too
 * (target: after/before ≥ 0.95). Loopback only; every load is bounded in count and time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { cleanup } from '../test/helpers/daemon.js';
import { queryDb } from '../test/helpers/net.js';
import { hostileMessage, issuePayloads } from '../test/hardening/hostile.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createCapture } from '../src/sip/capture.js';
import { createResponder } from '../src/sip/responder/index.js';
import { extractCredentials } from '../src/sip/responder/credentials.js';
import { blast } from './lib/blast.js';
import { startDaemon } from './lib/daemon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const CORPUS = Number(process.env.BENCH_HOSTILE ?? 400);
const REPS = 5;
const RATES = (process.env.BENCH_RATES ?? '2000,5000,10000,15000,20000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

// ---- (1) CPU per message -----------------------------------------------------------------------------------

function cpuPerMessage(): void {
  const metrics = new Metrics({ processMetrics: false });
  const logger = createLogger('silent');
  const responder = createResponder({
    profile: 'freepbx', decoyExtensions: '100-199', decoyPassword: '1234', redirectUri: null, serverHeader: null, replyRateLimit: 0, metrics, logger,
  });
  void responder.start();
  const capture = createCapture({
    nodeId: '00000000-0000-4000-8000-000000000000', responder, extractCredentials, isAllowed: () => false, onEvent: () => {}, metrics, logger,
  });
  let port = 1024;
  const reply = { open: true, send: (): void => {} };
  /** CPU ms of one run from a fresh source (never a retransmission). */
  const cpuOnce = (b: Buffer): number => {
    port = port >= 65535 ? 1024 : port + 1;
    const c0 = process.cpuUsage();
    capture.handle(b, { transport: 'UDP', source: { ip: '192.0.2.9', port }, local: { ip: '127.0.0.1', port: 5060 } }, reply);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  /** Minimum CPU ms over REPS consecutive runs. */
  const cpuMs = (b: Buffer): number => {
    let best = Infinity;
    for (let i = 0; i < REPS; i++) best = Math.min(best, cpuOnce(b));
    return best;
  };
  const ordinary = Buffer.from(
    'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-bench;rport\r\nFrom: "sipvicious" <sip:100@1.1.1.1>;tag=6162636465\r\n' +
      'To: "sipvicious" <sip:100@1.1.1.1>\r\nCall-ID: 1234567890\r\nCSeq: 1 OPTIONS\r\nContact: <sip:100@192.0.2.9:5060>\r\nMax-Forwards: 70\r\n' +
      'User-Agent: friendly-scanner\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n',
  );
  for (let i = 0; i < 2000; i++) cpuMs(ordinary); // warm-up: JIT and caches, as in a running node
  let base = Infinity;
  for (let i = 0; i < 200; i++) base = Math.min(base, cpuMs(ordinary));
  const corpus = [...issuePayloads(), ...fc.sample(hostileMessage, { numRuns: CORPUS, seed: 20261204 })];
  // REPS passes over the whole corpus, one run per message each, keeping each message's minimum: a burst of load
  // from other processes (or vCPU steal, which guests charge to the running process) then spoils one pass of a
  // message, not all of its runs.
  const best = corpus.map(() => Infinity);
  for (let pass = 0; pass < REPS; pass++) corpus.forEach((b, i) => (best[i] = Math.min(best[i]!, cpuOnce(b))));
  const rows = corpus.map((b, i) => ({ bytes: b.length, ms: best[i]! })).sort((a, b) => a.ms - b.ms);
  const at = (q: number): number => rows[Math.min(rows.length - 1, Math.floor(q * rows.length))]!.ms;
  const worst = rows[rows.length - 1]!;
  const big = rows.filter((r) => r.bytes >= 60_000);
  const worstBig = big.length ? big[big.length - 1]!.ms : NaN;
  const f = (x: number): string => x.toFixed(3) + ' ms';
  console.log(`hostile corpus: ${corpus.length} requests (seed 20261204), ${big.length} of them ≥ 60,000 bytes; min of ${REPS} CPU runs each, one per pass over the corpus`);
  console.log(`ordinary ${ordinary.length}-byte OPTIONS (baseline): ${f(base)}`);
  console.log(`hostile: median ${f(at(0.5))}, p99 ${f(at(0.99))}, worst ${f(worst.ms)} (${worst.bytes} bytes), worst ≥ 60,000 bytes ${f(worstBig)}`);
  console.log(`ratio worst/baseline ${(worst.ms / base).toFixed(0)}×; target worst ≤ 1 ms: ${worst.ms <= 1 ? 'met' : 'NOT met'}`);
  void responder.stop();
}

/**
 * Capture-thread CPU per ordinary 500-byte OPTIONS (64 sources, responsive freepbx) of the source tree at `root`:
 * the before/after figure that does not depend on what else shares the machine.
 */
async function ordinaryCpuUs(root: string): Promise<number> {
  const { createLogger: mkLogger } = (await import(join(root, 'src/log.ts'))) as typeof import('../src/log.js');
  const { Metrics: M } = (await import(join(root, 'src/metrics.ts'))) as typeof import('../src/metrics.js');
  const { createCapture: mkCapture } = (await import(join(root, 'src/sip/capture.ts'))) as typeof import('../src/sip/capture.js');
  const { createResponder: mkResponder } = (await import(join(root, 'src/sip/responder/index.ts'))) as typeof import('../src/sip/responder/index.js');
  const { extractCredentials: ex } = (await import(join(root, 'src/sip/responder/credentials.ts'))) as typeof import('../src/sip/responder/credentials.js');
  const metrics = new M({ processMetrics: false });
  const logger = mkLogger('silent');
  const responder = mkResponder({ profile: 'freepbx', decoyExtensions: '100-199', decoyPassword: null, redirectUri: null, serverHeader: null, replyRateLimit: 0, metrics, logger });
  await responder.start();
  const capture = mkCapture({ nodeId: '00000000-0000-4000-8000-000000000000', responder, extractCredentials: ex, isAllowed: () => false, onEvent: () => {}, metrics, logger });
  const N = 30_000;
  const msgs = Array.from({ length: N }, (_, i) =>
    Buffer.from(
      `OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.${(i % 64) + 1}:5060;branch=z9hG4bK-${i};rport\r\nFrom: "sipvicious" <sip:100@1.1.1.1>;tag=6162636465${i}\r\n` +
        `To: "sipvicious" <sip:100@1.1.1.1>\r\nCall-ID: ${i}-1234567890\r\nCSeq: 1 OPTIONS\r\nContact: <sip:100@1.1.1.1:5060>\r\nMax-Forwards: 70\r\n` +
        `User-Agent: friendly-scanner\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n`.padEnd(200, 'x'),
    ),
  );
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      capture.handle(msgs[i]!, { transport: 'UDP', source: { ip: `127.0.0.${(i % 64) + 1}`, port: 40000 + round }, local: { ip: '127.0.0.1', port: 5060 } }, { open: true, send: () => {} });
    }
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / N);
  }
  await responder.stop();
  return best;
}

// ---- (2) zero-loss ingest rate -------------------------------------------------------------------------------

async function baselineRate(rate: number): Promise<number> {
  const p = spawn(process.execPath, [join(here, 'lib', 'baseline-receiver.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
  const port = (JSON.parse(out.split('\n')[0]!) as { port: number }).port;
  const b = await blast({ host: '127.0.0.1', port, seconds: SECONDS, pps: rate });
  await new Promise((r) => setTimeout(r, 300));
  p.kill('SIGTERM');
  await new Promise((r) => p.on('close', r));
  const last = JSON.parse(out.trim().split('\n').pop()!) as { received: number };
  return last.received / b.sent;
}

async function sipwardenRate(rate: number): Promise<number> {
  const d = await startDaemon(['-r', '-j', '--sip-listen', '127.0.0.1:0', '--no-tls', '--reply-rate-limit', '1000000'], { expect: { udp: 1 } });
  try {
    await new Promise((r) => setTimeout(r, 800));
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SECONDS, pps: rate });
    await new Promise((r) => setTimeout(r, 1500));
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    if (process.env.BENCH_VERBOSE) console.log(`    sent ${b.sent}, stored ${stored}, replies ${b.replies}`);
    return Math.min(stored / b.sent, b.replies / b.sent);
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

/** Highest tested rate with ≥ 99.9 % stored and answered (for the daemon at SIPWARDEN_TEST_ROOT). */
async function ladder(measure: (rate: number) => Promise<number>, label: string): Promise<number> {
  let best = 0;
  for (const rate of RATES) {
    const ok = await measure(rate);
    console.log(`  ${label} ${rate}/s: ${(100 * ok).toFixed(2)} %`);
    if (ok >= 0.999) best = rate;
  }
  return best;
}

if (process.argv.includes('--ladder-only')) {
  // Child mode: the daemon at SIPWARDEN_TEST_ROOT (an earlier build) only; prints its rate last.
  console.log(String(await ladder(sipwardenRate, 'before')));
  process.exit(0);
}

console.log(`hardening benchmark, ${new Date().toISOString()}`);
cpuPerMessage();
if (process.env.BENCH_BEFORE_ROOT) {
  const beforeUs = await ordinaryCpuUs(process.env.BENCH_BEFORE_ROOT);
  const afterUs = await ordinaryCpuUs(join(here, '..'));
  console.log(`capture-thread CPU per ordinary OPTIONS (min of 5 × 30,000): before ${beforeUs.toFixed(1)} µs, after ${afterUs.toFixed(1)} µs → throughput after/before ${(beforeUs / afterUs).toFixed(2)} (target ≥ 0.95)`);
}
console.log(`ingest: 500-byte OPTIONS from 64 loopback sources, ${SECONDS} s per rate, zero-loss = ≥ 99.9 % stored and answered`);
const baseRate = await ladder(baselineRate, 'baseline receiver');
const after = await ladder(sipwardenRate, 'sipwarden (this build)');
let before = NaN;
if (process.env.BENCH_BEFORE_ROOT) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--ladder-only'], {
    env: { ...process.env, SIPWARDEN_TEST_ROOT: process.env.BENCH_BEFORE_ROOT },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = r.stdout.trim().split('\n');
  for (const l of lines.slice(0, -1)) console.log(l);
  before = Number(lines[lines.length - 1]);
}
console.log(
  `zero-loss rate: baseline ${baseRate}/s, sipwarden ${after}/s (ratio to baseline ${(after / (baseRate || 1)).toFixed(2)})` +
    (Number.isFinite(before) ? `, before the fixes ${before}/s → after/before ${(after / (before || 1)).toFixed(2)} (target ≥ 0.95)` : ' (set BENCH_BEFORE_ROOT to measure an earlier build)'),
);
