/**
 * `npm run bench -- responder` (issue 4): the cost of answering. Same run, same sendmmsg blaster: capture only
 * (no `-r`) vs the default `freepbx` profile vs `sentrypeer-classic`, each at a ladder of rates; reports the highest
 * zero-loss rate of each and its ratio to capture-only (target ≥ 0.8). Then the credential-capture rate while
 * svcrack guesses 301 passwords against a decoy. Loopback only; every load is bounded in count and time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, tempDir } from '../test/helpers/daemon.js';
import { freePort, queryDb, runTool } from '../test/helpers/net.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createResponder } from '../src/sip/responder/index.js';
import { parseSipMessage } from '../src/sip/wire/parse.js';
import { blast } from './lib/blast.js';
import { metric, startDaemon } from './lib/daemon.js';

const RATES = (process.env.BENCH_RATES ?? '5000,10000,15000,20000,25000,30000,40000,50000,80000,100000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Loss tolerated as "zero" (rounding of a few datagrams in flight at the end). */
const ZERO = 0.0001;

const BASE = ['-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--no-tls'];
const MODES: Record<string, string[]> = {
  'capture-only': BASE,
  freepbx: ['-r', '--reply-rate-limit', '1000000', ...BASE],
  'sentrypeer-classic': ['-r', '--responsive-profile', 'sentrypeer-classic', '--reply-rate-limit', '1000000', ...BASE],
};

interface Run {
  rate: number;
  sent: number;
  received: number;
  replies: number;
  loss: number;
}

async function runAt(args: string[], rate: number, kind: 'OPTIONS' | 'INVITE'): Promise<Run> {
  const d = await startDaemon(args, { expect: { udp: 1, http: 1 } });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const api = d.endpoint('http').port;
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SECONDS, pps: rate, kind });
    await new Promise((r) => setTimeout(r, 1500));
    const received = (await metric(api, 'sipwarden_sip_events_total')) + (await metric(api, 'sipwarden_sip_retransmissions_total'));
    return { rate, sent: b.sent, received, replies: b.replies, loss: b.sent > 0 ? (b.sent - received) / b.sent : 1 };
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

async function ladder(mode: string, kind: 'OPTIONS' | 'INVITE'): Promise<{ runs: Run[]; best: number }> {
  const runs: Run[] = [];
  let best = 0;
  for (const rate of RATES) {
    const r = await runAt(MODES[mode]!, rate, kind);
    runs.push(r);
    console.log(
      `  ${mode.padEnd(18)} ${kind.padEnd(7)} offered ${String(rate).padStart(6)}/s  sent ${String(r.sent).padStart(7)}  received ${String(r.received).padStart(7)}  replies ${String(r.replies).padStart(7)}  loss ${(100 * r.loss).toFixed(3)} %`,
    );
    if (r.loss <= ZERO) best = rate;
    else break;
  }
  return { runs, best };
}

async function svcrackRate(): Promise<void> {
  const d = await startDaemon(['-r', '--sip-listen', '127.0.0.1:0', '--no-tls'], { expect: { udp: 1 } });
  const dir = tempDir('sipwarden-bench-');
  try {
    const lp = await freePort();
    const t0 = Date.now();
    const r = await runTool('svcrack', ['-b', '127.0.0.1', '-P', String(lp), '-p', String(d.endpoint('udp').port), '-u', '100', '-r', '1000-1300', '--maximumtime=120', '127.0.0.1'], 180_000);
    const secs = (Date.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 1000));
    const rows = queryDb<{ n: number; v: number }>(d.dataDir, "SELECT COUNT(DISTINCT password) AS n, SUM(password_verified) AS v FROM credentials WHERE password_source='sipvicious_tag'")[0]!;
    console.log(
      `  svcrack -r 1000-1300 (default reply cap 50/s): exit ${r.code}, ${rows.n} distinct passwords captured in clear (301 of the range + the username svcrack tries first), ${rows.v} verified rows, ${secs.toFixed(1)} s → ${(rows.n / secs).toFixed(1)} passwords/s`,
    );
    writeFileSync(join(dir, 'svcrack.out'), r.stdout + r.stderr);
  } finally {
    await d.stop();
    cleanup(d.dataDir);
    cleanup(dir);
  }
}

/** In-process cost of `handle()` alone (parse excluded), per profile and method: requests/s on one core. */
function microbench(): void {
  const mk = (method: string, i: number, extra = ''): Buffer =>
    Buffer.from(`${method} sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.23:5099;branch=z9hG4bK${i};rport\r\nFrom: <sip:p@198.51.100.23>;tag=${i}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: ${i}@b\r\nCSeq: 1 ${method}\r\nUser-Agent: friendly-scanner\r\n${extra}Content-Length: 0\r\n\r\n`);
  const N = 50_000;
  const channel = { open: true, send() {} };
  for (const profile of ['freepbx', 'sentrypeer-classic'] as const) {
    for (const method of ['OPTIONS', 'REGISTER', 'INVITE']) {
      const msgs = Array.from({ length: N }, (_, i) => {
        const r = parseSipMessage(mk(method, i));
        if (!r.ok) throw new Error('bench request does not parse');
        return r.msg;
      });
      const r = createResponder({ profile, decoyExtensions: '100-199', decoyPassword: null, redirectUri: null, serverHeader: null, replyRateLimit: 0, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) r.handle({ msg: msgs[i]!, transport: 'UDP', source: { ip: `10.0.0.${i & 63}`, port: 5060 }, local: { ip: '127.0.0.1', port: 5060 }, receivedAtUs: 0, retransmission: false }, channel);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      void r.stop();
      console.log(`  handle() ${profile.padEnd(18)} ${method.padEnd(8)} ${(N / s / 1000).toFixed(0).padStart(5)}k requests/s (${((s / N) * 1e6).toFixed(2)} µs each)`);
    }
  }
}

console.log('responder micro-benchmark (in process, parse excluded):');
microbench();
console.log(`responder bench: ${SECONDS} s per step, rates ${RATES.join(', ')}; 500-byte datagrams from 64 loopback sources`);
const best: Record<string, number> = {};
for (const mode of Object.keys(MODES)) best[mode] = (await ladder(mode, 'OPTIONS')).best;
const inv = await ladder('freepbx', 'INVITE');
console.log('\nhighest zero-loss rate (OPTIONS):');
for (const [mode, rate] of Object.entries(best)) {
  const ratio = best['capture-only'] ? rate / best['capture-only'] : NaN;
  console.log(`  ${mode.padEnd(18)} ${String(rate).padStart(7)}/s  ratio to capture-only ${ratio.toFixed(2)}${mode === 'capture-only' ? '' : ratio >= 0.8 ? '  (target ≥ 0.8 met)' : '  (below the 0.8 target)'}`);
}
console.log(`  freepbx INVITE (100 + 401 challenge, Timer G) ${inv.best}/s`);
console.log('\ncredential capture:');
await svcrackRate();
