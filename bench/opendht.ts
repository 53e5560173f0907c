/**
 * `npm run bench -- opendht` (also run by `bench -- p2p`): sipwarden in a private OpenDHT network, inside a network
 * namespace this bench creates (its loopback only; OpenDHT's multicast discovery cannot leave it).
 * - Propagation latency at 20 values/s, p50/p99: a probe to sipwarden → a python3-opendht stand-in SentryPeer node
 *   receives the value; the stand-in puts a value → sipwarden has written it (JSON log). Baseline in the same run:
 *   OpenDHT-to-OpenDHT put→listen latency between two python3-opendht nodes on the same bootstrap node.
 * - Capture rate with `--p2p-engine opendht` against no P2P, by the sendmmsg blaster, at fixed rates.
 * Latencies use CLOCK_MONOTONIC on both sides (Node's hrtime and Python's monotonic_ns), shared on one machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, tempDir } from '../test/helpers/daemon.js';
import { blast } from './lib/blast.js';
import { metric, startDaemon } from './lib/daemon.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const PEER = join(here, '..', 'test', 'p2p', 'fixtures', 'sentrypeer_dht_peer.py');
const N = Number(process.env.BENCH_OPENDHT_VALUES ?? 200);
const RATE = 20;
const RATES = (process.env.BENCH_RATES ?? '10000,20000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const BOOT = 14222;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};
const ms = (x: number): string => x.toFixed(1) + ' ms';
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

/** A python3-opendht node: values received (text, monotonic ns) and puts. */
class PyNode {
  readonly got: { data: string; t: number }[] = [];
  readonly puts: number[] = [];
  private buf = '';
  readonly proc: ChildProcess;
  constructor(port: number) {
    this.proc = spawn('/usr/bin/python3', [PEER, String(port), '127.0.0.1', String(BOOT)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(this.buf.slice(0, i)) as { type: string; data?: string; t?: number };
        this.buf = this.buf.slice(i + 1);
        if (m.type === 'value') this.got.push({ data: m.data!, t: m.t! });
        if (m.type === 'put') this.puts.push(m.t!);
      }
    });
  }
  put(text: string): void {
    this.proc.stdin!.write(JSON.stringify({ put: text }) + '\n');
  }
  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

function spValue(tag: string): string {
  const now = new Date();
  const ts = `${now.toISOString().slice(0, 10)} ${now.toISOString().slice(11, 19)}.${String(now.getMilliseconds() * 1_000_000).padStart(9, '0')}`;
  return JSON.stringify({
    app_name: 'sentrypeer', app_version: 'v4.0.4', event_timestamp: ts, event_uuid: crypto.randomUUID(),
    created_by_node_id: 'a6f1f5c2-3c1e-4f47-9d0e-0c8f5b2b9d11', collected_method: 'responsive', transport_type: 'UDP',
    source_ip: '198.51.100.7', destination_ip: '192.0.2.10', called_number: tag, sip_method: 'INVITE',
    sip_user_agent: 'bench', sip_message: `INVITE sip:${tag}@192.0.2.10 SIP/2.0\r\n\r\n`,
  });
}

function options(tag: string): Buffer {
  return Buffer.from(`OPTIONS sip:${tag}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK${tag}\r\n` +
    `From: <sip:bench@127.0.0.1>;tag=${tag}\r\nTo: <sip:${tag}@127.0.0.1>\r\nCall-ID: ${tag}@bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
}

async function inside(): Promise<void> {
  const boot = spawn('dhtnode', ['-s', '-p', String(BOOT)], { stdio: 'ignore' });
  const procs: ChildProcess[] = [boot];
  const dirs: string[] = [];
  try {
    await sleep(300);
    // Baseline: OpenDHT to OpenDHT.
    const a = new PyNode(14300);
    const b = new PyNode(14301);
    procs.push(a.proc, b.proc);
    await sleep(3000);
    for (let i = 0; i < N; i++) {
      a.put(spValue(`base${i}`));
      await sleep(1000 / RATE);
    }
    await sleep(2000);
    const baseLat: number[] = [];
    for (let i = 0; i < N; i++) {
      const g = b.got.find((x) => x.data.includes(`"base${i}"`));
      if (g && a.puts[i] !== undefined) baseLat.push((g.t - a.puts[i]!) / 1e6);
    }
    a.stop();

    // sipwarden → stand-in, and stand-in → sipwarden.
    const dir = tempDir();
    dirs.push(dir);
    const d = await startDaemon(['-j', '--sip-listen', '127.0.0.1:5060', '--no-tls', '-a', '--api-listen', '127.0.0.1:8082', '--api-rate-limit', '0',
      '-p', '--p2p-engine', 'opendht', '-b', `127.0.0.1:${BOOT}`, '--opendht-port', '4222'], { dataDir: dir, expect: { udp: 1, http: 1 } });
    await sleep(3000);
    const sock = createSocket('udp4');
    const sent = new Map<string, bigint>();
    for (let i = 0; i < N; i++) {
      const tag = `out${i}x${process.pid}`;
      sent.set(tag, process.hrtime.bigint());
      sock.send(options(tag), 5060, '127.0.0.1');
      await sleep(1000 / RATE);
    }
    await sleep(2000);
    const outLat: number[] = [];
    for (const [tag, t0] of sent) {
      const g = b.got.find((x) => x.data.includes(`"called_number":"${tag}"`));
      if (g) outLat.push((g.t - Number(t0)) / 1e6);
    }
    // Back: the stand-in puts; sipwarden's JSON log line is the arrival (the log is polled every 5 ms).
    const logFile = join(dir, 'sipwarden_json.log');
    const arrived = new Map<string, bigint>();
    const poll = setInterval(() => {
      for (const line of readFileSync(logFile, 'utf8').split('\n')) {
        const m = /"called_number":"(in\d+)"/.exec(line);
        if (m && !arrived.has(m[1]!)) arrived.set(m[1]!, process.hrtime.bigint());
      }
    }, 5);
    const putsBefore = b.puts.length;
    for (let i = 0; i < N; i++) {
      b.put(spValue(`in${i}`));
      await sleep(1000 / RATE);
    }
    await sleep(2000);
    clearInterval(poll);
    const inLat: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = arrived.get(`in${i}`);
      const t0 = b.puts[putsBefore + i];
      if (t !== undefined && t0 !== undefined) inLat.push((Number(t) - t0) / 1e6);
    }
    sock.close();
    b.stop();
    await d.stop('SIGTERM', 8000);

    const line = (name: string, xs: number[]): string =>
      `${name.padEnd(44)} delivered ${String(xs.length).padStart(4)}/${N}  p50 ${ms(quantile(xs, 0.5)).padStart(9)}  p99 ${ms(quantile(xs, 0.99)).padStart(9)}`;
    console.log(`propagation at ${RATE} values/s (${N} values each):`);
    console.log(line('baseline OpenDHT → OpenDHT (put → listen)', baseLat));
    console.log(line('sipwarden probe → SentryPeer stand-in', outLat));
    console.log(line('SentryPeer stand-in → sipwarden (JSON log)', inLat));
    console.log(`ratio p50 to baseline: out ${(quantile(outLat, 0.5) / quantile(baseLat, 0.5)).toFixed(2)}, in ${(quantile(inLat, 0.5) / quantile(baseLat, 0.5)).toFixed(2)}`);

    // Capture rate: opendht engine on vs no P2P.
    console.log(`\ncapture rate, ${SECONDS} s per step (recorded events / sent):`);
    for (const rate of RATES) {
      const res: Record<string, number> = {};
      for (const mode of ['none', 'opendht'] as const) {
        const dd = tempDir();
        dirs.push(dd);
        const p2p = mode === 'opendht' ? ['-p', '--p2p-engine', 'opendht', '-b', `127.0.0.1:${BOOT}`, '--opendht-port', '4223'] : [];
        const dm = await startDaemon(['-r', '--sip-listen', '127.0.0.1:5062', '--no-tls', '-a', '--api-listen', '127.0.0.1:8083', '--api-rate-limit', '0', ...p2p],
          { dataDir: dd, expect: { udp: 1, http: 1 } });
        await sleep(1000);
        const s = await blast({ host: '127.0.0.1', port: 5062, seconds: SECONDS, pps: rate });
        await sleep(1500);
        res[mode] = (await metric(8083, 'sipwarden_sip_events_total', ['origin="local"'])) / s.sent;
        await dm.stop('SIGTERM', 8000);
      }
      console.log(`  ${String(rate).padStart(6)}/s  none ${(100 * res.none!).toFixed(2)} %  opendht ${(100 * res.opendht!).toFixed(2)} %  ratio ${(res.opendht! / res.none!).toFixed(3)} (target ≥ 0.90)`);
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const d of dirs) cleanup(d);
  }
}

if (process.argv[2] === 'inside') {
  inside().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  const ns = `swDhtBench${process.pid % 100_000}`;
  spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
  try {
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'inside'], { stdio: 'inherit', timeout: 600_000 });
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'inherit' });
  }
}
