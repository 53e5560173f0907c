/**
 * `npm run bench -- ingest` (issue 3): UDP capture rate of sipwarden `-r -j` with the sqlite store against a bare
 * Node dgram receiver that parses and replies (baseline), driven by the same sendmmsg blaster in the same run;
 * plus sipp OPTIONS request→reply at fixed rates and memory (idle, under load, 60 s soak).
 * Loopback only; every load is bounded in count and time.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup } from '../test/helpers/daemon.js';
import { freePort, queryDb, runTool } from '../test/helpers/net.js';
import { blast } from './lib/blast.js';
import { metric, rssMb, rssSampler, startDaemon } from './lib/daemon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const RATES = (process.env.BENCH_RATES ?? '20000,25000,30000,40000,50000,75000,100000,150000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const pct = (x: number): string => (100 * x).toFixed(2) + ' %';

/** CPU seconds (user + system, all threads) a process has used so far (Linux /proc, 100 Hz ticks). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
/** CPU µs per received request, the figure that does not depend on what else shares the cores. */
const usPer = (cpu: number, n: number): string => (n > 0 ? ((cpu * 1e6) / n).toFixed(1) : '?');

async function baseline(rate: number): Promise<{ sent: number; received: number; replies: number; cpu: number }> {
  const p = spawn(process.execPath, [join(here, 'lib', 'baseline-receiver.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
  const port = (JSON.parse(out.split('\n')[0]!) as { port: number }).port;
  const cpu0 = cpuSeconds(p.pid!);
  const b = await blast({ host: '127.0.0.1', port, seconds: SECONDS, pps: rate });
  await new Promise((r) => setTimeout(r, 300));
  const cpu = cpuSeconds(p.pid!) - cpu0;
  p.kill('SIGTERM');
  await new Promise((r) => p.on('close', r));
  const last = JSON.parse(out.trim().split('\n').pop()!) as { received: number };
  return { sent: b.sent, received: last.received, replies: b.replies, cpu };
}

const ARGS = ['-r', '-j', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--no-tls', '--reply-rate-limit', '1000000'];

async function sipwarden(rate: number): Promise<{ sent: number; received: number; stored: number; replies: number; peakRss: number; idleRss: number; cpu: number }> {
  const d = await startDaemon(ARGS, { expect: { udp: 1, http: 1 } });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssMb(d.pid);
    const api = d.endpoint('http').port;
    const sampler = rssSampler(d.pid);
    const cpu0 = cpuSeconds(d.pid);
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SECONDS, pps: rate });
    await new Promise((r) => setTimeout(r, 1500));
    // Includes the store writer catching up after the blast, so every received event's cost is counted.
    const cpu = cpuSeconds(d.pid) - cpu0;
    const received = (await metric(api, 'sipwarden_sip_events_total')) + (await metric(api, 'sipwarden_sip_retransmissions_total'));
    const peakRss = sampler.stop();
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    return { sent: b.sent, received, stored, replies: b.replies, peakRss, idleRss, cpu };
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

async function sippRun(rate: number): Promise<string> {
  const d = await startDaemon(ARGS, { expect: { udp: 1, http: 1 } });
  try {
    const local = await freePort();
    const stats = join(d.dataDir, 'sipp-stats.csv');
    const r = await runTool(
      'sipp',
      [`127.0.0.1:${d.endpoint('udp').port}`, '-sf', join(here, 'lib', 'options.xml'), '-s', '100', '-i', '127.0.0.1', '-p', String(local),
        '-r', String(rate), '-m', String(rate * 5), '-timeout', '30s', '-nostdin', '-trace_stat', '-stf', stats, '-fd', '100'],
      60_000,
      { cwd: d.dataDir },
    );
    const lines = (existsSync(stats) ? readFileSync(stats, 'utf8') : '').trim().split('\n').filter((l) => l.includes(';'));
    const head = lines[0]?.split(';') ?? [];
    const last = lines[lines.length - 1]?.split(';') ?? [];
    const get = (k: string): string => last[head.indexOf(k)] ?? '?';
    return `rate ${rate}/s × ${rate * 5}: successful ${get('SuccessfulCall(C)')}, failed ${get('FailedCall(C)')}, retransmissions ${get('Retransmissions(C)')}, exit ${r.code}`;
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

async function soak(): Promise<string> {
  const d = await startDaemon(ARGS, { expect: { udp: 1, http: 1 } });
  try {
    const samples: number[] = [];
    const t = setInterval(() => samples.push(rssMb(d.pid)), 5000);
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SOAK_SECONDS, pps: 20_000 });
    clearInterval(t);
    await new Promise((r) => setTimeout(r, 1500));
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    const first = samples[1] ?? samples[0] ?? NaN;
    const lastS = samples[samples.length - 1] ?? NaN;
    return `soak ${SOAK_SECONDS}s at 20k/s: sent ${b.sent}, stored/sent ${pct(stored / b.sent)}, RSS at 10 s ${first.toFixed(0)} MB → at end ${lastS.toFixed(0)} MB (samples: ${samples.map((x) => x.toFixed(0)).join(' ')})`;
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

/** Idle RSS of the exact configuration (`-r -j`, sqlite store, no API), 2 s after start. */
async function idleRss(): Promise<number> {
  const d = await startDaemon(['-r', '-j', '--sip-listen', '127.0.0.1:0', '--no-tls'], { expect: { udp: 1 } });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    return rssMb(d.pid);
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

console.log(`ingest benchmark, ${new Date().toISOString()}, 500-byte OPTIONS, ${SECONDS} s per rate, 64 loopback sources`);
console.log(`idle RSS of sipwarden -r -j: ${(await idleRss()).toFixed(0)} MB (target ≤ 120 MB)`);
let bestBase = 0;
let bestOurs = 0;
for (const rate of RATES) {
  const base = await baseline(rate);
  const ours = await sipwarden(rate);
  const baseOk = base.received / base.sent >= 0.999;
  const oursOk = ours.stored / ours.sent >= 0.999 && ours.replies / ours.sent >= 0.999;
  if (baseOk) bestBase = rate;
  if (oursOk) bestOurs = rate;
  console.log(
    `${String(rate).padStart(6)}/s  baseline: received/sent ${pct(base.received / base.sent)}, replies/sent ${pct(base.replies / base.sent)}, CPU ${usPer(base.cpu, base.received)} µs/request` +
      `  | sipwarden: received/sent ${pct(ours.received / ours.sent)}, stored/sent ${pct(ours.stored / ours.sent)}, replies/sent ${pct(ours.replies / ours.sent)}, CPU ${usPer(ours.cpu, ours.stored)} µs/request (all threads), RSS idle ${ours.idleRss.toFixed(0)} MB peak ${ours.peakRss.toFixed(0)} MB`,
  );
}
console.log(`sustained zero-loss rate (of those tested): baseline ${bestBase}/s, sipwarden ${bestOurs}/s, ratio ${(bestOurs / (bestBase || 1)).toFixed(2)} (target ≥ 0.70)`);
for (const rate of (process.env.BENCH_SIPP_RATES ?? '2000,5000,10000').split(',').filter(Boolean).map(Number)) console.log('sipp ' + (await sippRun(rate)));
if (SOAK_SECONDS > 0) console.log(await soak());
