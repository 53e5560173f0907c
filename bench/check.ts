// Call-check benchmark (issue 13): seeds a synthetic database through the store's own batch writer (heavy-tailed
// sources and numbers, 5 % TCP so some sources are proven), then measures in one run, 10 connections each:
//   the compat lookup /ip-addresses/{ip} (the baseline), /api/v1/check?ip=, and /api/v1/check?ip=&number=.
// Usage: node --import tsx bench/check.ts [--events 1000000] [--ips 500000] [--numbers 150000] [--seconds 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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
  },
});
const EVENTS = Number(values.events);
const IPS = Math.min(Number(values.ips), EVENTS);
const NUMBERS = Math.min(Number(values.numbers), EVENTS);
const SECONDS = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-check-'));
const path = join(dir, 'bench.db');

const ipOf = (i: number): string =>
  i % 10 === 9 ? `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` : `${11 + (i >> 24)}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const numberOf = (i: number): string => (i % 3 === 0 ? `00${44 + (i % 50)}${String(100000000 + i)}` : i % 3 === 1 ? `+${33 + (i % 60)}${String(600000000 + i)}` : String(100 + (i % 900)) + String(i));

const t0 = performance.now();
const { db } = openAndMigrate(path);
const writer = new BatchWriter(db, classifyNumber);
const rand = rng(7);
const now = Date.now() * 1000;
const span = 2 * 86_400_000_000; // the last two days, so part of it is inside the 24 h block TTL
const e164cache = new Map<string, string | null>();
let ipsUsed = 0;
let numbersUsed = 0;
for (let b = 0; b < EVENTS; b += 5000) {
  const batch = [];
  for (let i = b; i < Math.min(EVENTS, b + 5000); i++) {
    const ipIdx = ipsUsed < IPS && rand() < (IPS - ipsUsed) / (EVENTS - i) ? ipsUsed++ : Math.floor(ipsUsed * rand() ** 3);
    const nIdx = numbersUsed < NUMBERS && rand() < (NUMBERS - numbersUsed) / (EVENTS - i) ? numbersUsed++ : Math.floor(numbersUsed * rand() ** 3);
    const called = numberOf(nIdx);
    let e164 = e164cache.get(called);
    if (e164 === undefined) {
      e164 = toE164(called);
      if (e164cache.size < 200_000) e164cache.set(called, e164);
    }
    batch.push(toEvent({
      sourceIp: ipOf(ipIdx), timeUs: now - span + Math.floor((i / EVENTS) * span), method: i % 3 ? 'INVITE' : 'OPTIONS',
      transport: i % 20 === 0 ? 'TCP' : 'UDP', calledNumber: called, e164, origin: i % 50 === 0 ? 'peer' : 'local',
    }));
  }
  writer.write(batch);
}
db.pragma('wal_checkpoint(TRUNCATE)');
const seedS = (performance.now() - t0) / 1000;
const c = db.prepare('SELECT (SELECT COUNT(*) FROM honey) AS e, (SELECT COUNT(*) FROM ip_stats) AS i, (SELECT COUNT(*) FROM number_check_stats) AS n, (SELECT COUNT(*) FROM number_sources) AS s').get() as Record<string, number>;
db.close();
console.log(`seeded ${c.e} events, ${c.i} IPs, ${c.n} number keys, ${c.s} number-source pairs in ${seedS.toFixed(1)} s (${Math.round(c.e! / seedS)} ev/s, block facts included)`);

const config = {
  ...DEFAULTS, dataDir: dir, dbFile: path, jsonLogFile: join(dir, 'x.log'), sources: {},
  api: true, apiListen: [{ ip: '127.0.0.1', port: 0 }], apiRateLimit: 0, apiTokens: [], allow: [],
} as Config;
const api = createApiServer({ config, dbPath: path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
await api.start();
const port = api.addresses()[0]!.port;

async function cannon(label: string, paths: () => string): Promise<CannonResult> {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}/`, connections: 10, duration: SECONDS,
    requests: [{ setupRequest: (req: { path: string }) => ({ ...req, path: paths() }) }],
  });
  console.log(`${label.padEnd(34)} ${String(Math.round(r.requests.average)).padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non2xx ${r.non2xx}  errors ${r.errors}`);
  return r;
}

// Warm up: the reader worker starts on the first query.
for (let i = 0; i < 200; i++) await fetch(`http://127.0.0.1:${port}/api/v1/check?ip=${ipOf(i)}&number=${encodeURIComponent(numberOf(i))}`).then((r) => r.text());
await fetch(`http://127.0.0.1:${port}/ip-addresses/${ipOf(1)}`).then((r) => r.text());

const knownIps = Array.from({ length: 10_000 }, (_, i) => ipOf(Math.floor((i * IPS) / 10_000)));
const knownNumbers = Array.from({ length: 10_000 }, (_, i) => encodeURIComponent(numberOf(Math.floor((i * NUMBERS) / 10_000))));
let k = 0;
const lookup = await cannon('baseline /ip-addresses/{ip}', () => `/ip-addresses/${knownIps[k++ % knownIps.length]}`);
const checkIp = await cannon('/api/v1/check?ip=', () => `/api/v1/check?ip=${knownIps[k++ % knownIps.length]}`);
const checkBoth = await cannon('/api/v1/check?ip=&number=', () => `/api/v1/check?ip=${knownIps[k % knownIps.length]}&number=${knownNumbers[k++ % knownNumbers.length]}`);
const ratio = (r: CannonResult): string => (r.requests.average / lookup.requests.average).toFixed(2);
console.log(`ratios to the lookup: check ip ${ratio(checkIp)} (target ≥ 0.9, p99 ≤ 2 ms), check ip+number ${ratio(checkBoth)}`);
await api.stop();
rmSync(dir, { recursive: true, force: true });
