// API benchmark (issue 5): seeds a synthetic but realistic database (heavy-tailed sources and numbers), then
// measures in one run, against a constant fastify route as the baseline:
//   lookups /ip-addresses/{ip} and /numbers/{n} (req/s, p50/p99, ratio to baseline), first page of
//   /api/v1/ip-addresses, the full nftables export (time, size, peak RSS) and the compat /ip-addresses and /numbers.
// Usage: node --import tsx bench/api.ts [--events 1000000] [--ips 500000] [--numbers 150000] [--seconds 5] [--dir D]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { createApiServer } from '../src/api/server.js';
import { DEFAULTS } from '../src/config/settings.js';
import type { Config } from '../src/config/types.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { toE164 } from '../src/net/numbers.js';
import { openAndMigrate } from '../src/store/migrate.js';
import { classifyNumber } from '../src/store/number-intel.js';
import { BatchWriter } from '../src/store/writer.js';
import { rng, toEvent } from '../test/api/seed.js';
import { http } from '../test/api/client.js';

interface Histo { p50: number; p99: number; average: number }
interface CannonResult { requests: Histo & { total: number }; latency: Histo; non2xx: number; errors: number }
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    ips: { type: 'string', default: '500000' },
    numbers: { type: 'string', default: '150000' },
    seconds: { type: 'string', default: '5' },
    dir: { type: 'string' },
  },
});
const EVENTS = Number(values.events);
const IPS = Math.min(Number(values.ips), EVENTS);
const NUMBERS = Math.min(Number(values.numbers), EVENTS);
const SECONDS = Number(values.seconds);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'sipwarden-bench-api-'));
mkdirSync(dir, { recursive: true });
const path = join(dir, 'bench.db');

const ipOf = (i: number): string =>
  i % 10 === 9 ? `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` : `${11 + (i >> 24)}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const numberOf = (i: number): string => (i % 3 === 0 ? `00${44 + (i % 50)}${String(100000000 + i)}` : i % 3 === 1 ? `+${33 + (i % 60)}${String(600000000 + i)}` : String(100 + (i % 900)) + String(i));

// ---- seed ----
const t0 = performance.now();
const { db } = openAndMigrate(path);
const writer = new BatchWriter(db, classifyNumber);
const rand = rng(42);
const now = Date.now() * 1000;
const span = 30 * 86_400_000_000; // events spread over the last 30 days
const methods = ['OPTIONS', 'OPTIONS', 'OPTIONS', 'REGISTER', 'INVITE', 'INVITE'];
const uas = Array.from({ length: 40 }, (_, i) => (i < 5 ? ['friendly-scanner', 'sipvicious', 'pplsip', 'sipcli/v1.8', 'VaxSIPUserAgent/3.1'][i]! : `Scanner-${i}`));
const e164cache = new Map<string, string | null>();
let ipsUsed = 0;
let numbersUsed = 0;
const BATCH = 5000;
for (let b = 0; b < EVENTS; b += BATCH) {
  const batch = [];
  for (let i = b; i < Math.min(EVENTS, b + BATCH); i++) {
    // New sources until the target count is reached (spread evenly); the rest repeat with a heavy tail.
    const newIp = ipsUsed < IPS && rand() < (IPS - ipsUsed) / (EVENTS - i);
    const ipIdx = newIp ? ipsUsed++ : Math.floor(ipsUsed * rand() ** 3);
    const newNum = numbersUsed < NUMBERS && rand() < (NUMBERS - numbersUsed) / (EVENTS - i);
    const nIdx = newNum ? numbersUsed++ : Math.floor(numbersUsed * rand() ** 3);
    const called = numberOf(nIdx);
    let e164 = e164cache.get(called);
    if (e164 === undefined) {
      e164 = toE164(called);
      if (e164cache.size < 200_000) e164cache.set(called, e164);
    }
    const ev = toEvent({
      sourceIp: ipOf(ipIdx), timeUs: now - span + Math.floor((i / EVENTS) * span), method: methods[i % methods.length]!,
      transport: i % 20 === 0 ? 'TCP' : 'UDP', calledNumber: called, userAgent: uas[Math.floor(uas.length * rand() ** 2)]!, e164,
    });
    batch.push(ev);
  }
  writer.write(batch);
}
db.pragma('wal_checkpoint(TRUNCATE)');
const seedS = (performance.now() - t0) / 1000;
const counts = db.prepare('SELECT (SELECT COUNT(*) FROM honey) AS e, (SELECT COUNT(*) FROM ip_stats) AS i, (SELECT COUNT(*) FROM number_stats) AS n').get() as { e: number; i: number; n: number };
db.close();
console.log(`seeded ${counts.e} events, ${counts.i} distinct IPs, ${counts.n} distinct numbers in ${seedS.toFixed(1)} s (${Math.round(counts.e / seedS)} ev/s)`);

// ---- servers ----
const config = {
  ...DEFAULTS, dataDir: dir, dbFile: path, jsonLogFile: join(dir, 'x.log'), sources: {},
  api: true, apiListen: [{ ip: '127.0.0.1', port: 0 }], apiRateLimit: 0, apiTokens: [], allow: [],
} as Config;
const api = createApiServer({ config, dbPath: path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
await api.start();
const port = api.addresses()[0]!.port;
const base = Fastify();
base.get('/', async (_req, reply) => reply.header('content-type', 'application/json').send('{"status": "OK"}'));
await base.listen({ host: '127.0.0.1', port: 0 });
const basePort = (base.server.address() as { port: number }).port;

async function cannon(label: string, url: string, paths?: () => string): Promise<CannonResult> {
  const r = await autocannon({
    url, connections: 10, duration: SECONDS,
    ...(paths ? { requests: [{ setupRequest: (req: { path: string }) => ({ ...req, path: paths() }) }] } : {}),
  });
  console.log(`${label.padEnd(28)} ${String(Math.round(r.requests.average)).padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non2xx ${r.non2xx}  errors ${r.errors}`);
  return r;
}

const knownIps = Array.from({ length: 10_000 }, (_, i) => ipOf(Math.floor((i * IPS) / 10_000)));
const knownNumbers = Array.from({ length: 10_000 }, (_, i) => encodeURIComponent(numberOf(Math.floor((i * NUMBERS) / 10_000))));
let k = 0;
const baseline = await cannon('baseline constant route', `http://127.0.0.1:${basePort}/`);
const apiRoot = await cannon('API / (constant, full stack)', `http://127.0.0.1:${port}/`);
const ipLookup = await cannon('/ip-addresses/{ip}', `http://127.0.0.1:${port}/`, () => `/ip-addresses/${knownIps[k++ % knownIps.length]}`);
const numLookup = await cannon('/numbers/{n}', `http://127.0.0.1:${port}/`, () => `/numbers/${knownNumbers[k++ % knownNumbers.length]}`);
const ratio = (r: CannonResult): string => (r.requests.average / baseline.requests.average).toFixed(2);
console.log(`ratios to baseline: API / ${ratio(apiRoot)}, ip lookup ${ratio(ipLookup)}, number lookup ${ratio(numLookup)}`);

async function timed(label: string, p: string, times = 1): Promise<{ ms: number[]; bytes: number; peakRssMb: number }> {
  const ms: number[] = [];
  let bytes = 0;
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  for (let i = 0; i < times; i++) {
    const s = performance.now();
    const r = await http(port, p, { timeoutMs: 120_000 });
    ms.push(performance.now() - s);
    bytes = Buffer.byteLength(r.body);
    if (r.status !== 200) console.log(`${label}: status ${r.status}`);
  }
  clearInterval(sampler);
  ms.sort((a, b) => a - b);
  const peakRssMb = (peak - rss0) / 2 ** 20;
  console.log(`${label.padEnd(40)} median ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms  max ${ms[ms.length - 1]!.toFixed(1)} ms  ${(bytes / 2 ** 20).toFixed(1)} MiB  RSS +${peakRssMb.toFixed(0)} MiB (incl. the test client's buffer)`);
  return { ms, bytes, peakRssMb };
}

await timed('first page /api/v1/ip-addresses', '/api/v1/ip-addresses', 20);
await timed('first page /api/v1/ip-addresses?details=false', '/api/v1/ip-addresses?details=false', 20);
await timed('first page /api/v1/events', '/api/v1/events', 20);
await timed('blocklist nftables (ttl 30 d)', `/api/v1/blocklist?format=nftables&ttl=${31 * 86400}`, 2);
await timed('compat /ip-addresses', '/ip-addresses', 2);
await timed('compat /numbers', '/numbers', 2);
await timed('compat /ip-addresses/ipset', '/ip-addresses/ipset', 2);

await api.stop();
await base.close();
if (!values.dir) rmSync(dir, { recursive: true, force: true });
