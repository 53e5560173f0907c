/**
 * `npm run bench -- sinks` (issue 6): UDP capture rate of sipwarden with no sinks vs with JSON log + syslog (to a
 * foreground rsyslogd) + webhook (healthy local receiver) vs the same with a dead webhook (connection refused), all
 * driven by the same sendmmsg blaster in one run; plus webhook delivery throughput to a healthy local receiver.
 * Reports received/sent and stored/sent per rate, the highest zero-loss rate per configuration, and its ratio to
 * the no-sinks figure (target ≥ 0.8). Loopback only; every load is bounded in count and time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup } from '../test/helpers/daemon.js';
import { queryDb } from '../test/helpers/net.js';
import { startReceiver, startRsyslog } from '../test/sinks/helpers.js';
import { blast } from './lib/blast.js';
import { metric, startDaemon } from './lib/daemon.js';

const RATES = (process.env.BENCH_RATES ?? '20000,50000,80000,100000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const pct = (x: number): string => (100 * x).toFixed(2) + ' %';
const BASE = ['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--no-tls', '--reply-rate-limit', '1000000'];

interface Row { rate: number; sent: number; received: number; stored: number; dropped: number; delivered: number }

async function run(name: string, extra: string[], rate: number): Promise<Row> {
  const d = await startDaemon([...BASE, ...extra], { expect: { udp: 1, http: 1 } });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const api = d.endpoint('http').port;
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SECONDS, pps: rate });
    await new Promise((r) => setTimeout(r, 1500));
    const received = (await metric(api, 'sipwarden_sip_events_total')) + (await metric(api, 'sipwarden_sip_retransmissions_total'));
    const dropped = await metric(api, 'sipwarden_sink_dropped_total');
    const delivered = await metric(api, 'sipwarden_sink_delivered_total', ['sink="webhook"']);
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    const row = { rate, sent: b.sent, received, stored, dropped, delivered };
    console.log(
      `${name.padEnd(22)} ${String(rate).padStart(7)}/s  sent ${b.sent}  received ${pct(received / b.sent)}  stored ${pct(stored / b.sent)}  sink drops ${dropped}`,
    );
    return row;
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-sinks-'));
  const rs = await startRsyslog(join(dir, 'rsyslog'));
  const healthy = await startReceiver();
  let deliveredCount = 0;
  healthy.handler = (_req, _body, res) => {
    deliveredCount++;
    res.statusCode = 204;
    res.end();
  };
  const dead = await startReceiver();
  await dead.down(); // connection refused
  const configs: Array<[string, string[]]> = [
    ['no sinks', []],
    ['json+syslog+webhook', ['-j', '-s', '--syslog-target', `unix:${rs.socket}`, '-w', healthy.url]],
    ['json+syslog+dead hook', ['-j', '-s', '--syslog-target', `unix:${rs.socket}`, '-w', dead.url]],
    ...(process.env.BENCH_SINKS_SPLIT
      ? ([
          ['json+syslog', ['-j', '-s', '--syslog-target', `unix:${rs.socket}`]],
          ['webhook only', ['-w', healthy.url]],
        ] as Array<[string, string[]]>)
      : []),
  ];
  const best = new Map<string, number>();
  try {
    for (const rate of RATES) {
      for (const [name, extra] of configs) {
        const r = await run(name, extra, rate);
        if (r.received >= r.sent && r.stored >= r.sent) best.set(name, Math.max(best.get(name) ?? 0, rate));
      }
    }
    console.log('\nhighest zero-loss rate (received = stored = sent):');
    const base = best.get('no sinks') ?? 0;
    for (const [name] of configs) {
      const b = best.get(name) ?? 0;
      console.log(`  ${name.padEnd(22)} ${b}/s  ratio ${base ? (b / base).toFixed(2) : 'n/a'} (target ≥ 0.80)`);
    }

    // Webhook delivery throughput: a backlog of N events, then time until the receiver has them all.
    const N = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 20000);
    await healthy.down();
    const d = await startDaemon([...BASE, '-w', healthy.url], { expect: { udp: 1, http: 1 } });
    try {
      await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: 1, pps: N });
      await new Promise((r) => setTimeout(r, 1000));
      const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
      deliveredCount = 0;
      await healthy.up();
      const t0 = Date.now();
      // The worker is in backoff after the refused attempts; the clock starts at its first success.
      while (deliveredCount === 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
      const t1 = Date.now();
      while (deliveredCount < stored && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 20));
      const secs = (Date.now() - t1) / 1000;
      console.log(`\nwebhook delivery: ${deliveredCount}/${stored} events in ${secs.toFixed(1)} s = ${Math.round(deliveredCount / secs)} events/s (≤4 in flight, keep-alive)`);
    } finally {
      await d.stop();
      cleanup(d.dataDir);
    }
  } finally {
    await healthy.close().catch(() => undefined);
    await rs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
