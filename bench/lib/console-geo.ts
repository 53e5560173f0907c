/**
 * GeoIP part of `npm run bench -- console`: the enrichment cost per event in the store writer (cached and uncached
 * lookups, and a whole batch transaction with and without enrichment), then the daemon's UDP ingest with
 * enrichment on (embedded country database + an ASN database) against off (`--geoip-db none`), same blaster, same run.
 * Loopback only; every load is bounded in count and time.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enrichEvents, GeoLookup, geoPathsOf } from '../../src/geo/lookup.js';
import { createTestDb, toEvent } from '../../test/api/seed.js';
import { cleanup } from '../../test/helpers/daemon.js';
import { queryDb } from '../../test/helpers/net.js';
import { blast } from './blast.js';
import { metric, startDaemon } from './daemon.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/geoip/', import.meta.url));
const ASN = join(FIX, 'GeoLite2-ASN-Test.mmdb');

/** A deterministic public-looking IPv4 address per index (spread over the whole space). */
function addr(i: number): string {
  const n = (Math.imul(i + 1, 2654435761) >>> 0) | 0x01000000;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function lookupCost(): void {
  const geo = new GeoLookup(geoPathsOf(null, ASN));
  const N = 200_000;
  const events = Array.from({ length: N }, (_, i) => ({ sourceIp: addr(i), sourceCountry: null, sourceCity: null }));
  let t0 = process.hrtime.bigint();
  enrichEvents(events.slice(0, 50_000), geo); // uncached: 50,000 distinct addresses (the cache holds all of them)
  const uncached = Number(process.hrtime.bigint() - t0) / 1e3 / 50_000;
  const hot = events.slice(0, 50_000);
  t0 = process.hrtime.bigint();
  for (let r = 0; r < 4; r++) enrichEvents(hot, geo); // cached: the same addresses again
  const cached = Number(process.hrtime.bigint() - t0) / 1e3 / 200_000;
  console.log(`enrichment per event: ${uncached.toFixed(2)} µs uncached (new address: country + ASN lookup), ${cached.toFixed(3)} µs cached`);
}

function batchCost(): void {
  const geo = new GeoLookup(geoPathsOf(null, ASN));
  const tdb = createTestDb('sipwarden-bench-geo-');
  try {
    const BATCHES = 40;
    // A scanner mix: 1,000-event batches from 200 distinct sources each, half of them new to the cache.
    let next = 0;
    const mk = (): ReturnType<typeof toEvent>[] => Array.from({ length: 1000 }, (_, i) => toEvent({ sourceIp: addr(i % 200 < 100 ? next + (i % 100) : i % 100), e164: null }));
    const times = { on: 0, off: 0 };
    for (let w = 0; w < 6; w++) { tdb.writer.write(mk()); next += 100; } // warm up statements and the page cache
    for (let b = 0; b < BATCHES * 2; b++) {
      const events = mk();
      next += 100;
      // Pairs in alternating order (on/off, off/on), so a growing database or a busy neighbour favours neither.
      const on = (b % 2 === 0) !== (Math.floor(b / 2) % 2 === 1);
      const t0 = process.hrtime.bigint();
      if (on) enrichEvents(events, geo);
      tdb.writer.write(events);
      times[on ? 'on' : 'off'] += Number(process.hrtime.bigint() - t0) / 1e6;
    }
    const perOn = (times.on * 1000) / (BATCHES * 1000);
    const perOff = (times.off * 1000) / (BATCHES * 1000);
    console.log(`writer batch (1,000 events, 200 sources, 100 new): ${perOn.toFixed(1)} µs/event with enrichment, ${perOff.toFixed(1)} µs/event without (ratio ${(perOff / perOn).toFixed(3)}×)`);
  } finally {
    tdb.close();
  }
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const RATES = (process.env.BENCH_GEO_RATES ?? '10000,20000').split(',').map(Number);
const ARGS = ['-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--no-tls'];

async function ingest(rate: number, geoArgs: string[]): Promise<{ sent: number; received: number; stored: number; country: number }> {
  const d = await startDaemon([...ARGS, ...geoArgs], { expect: { udp: 1, http: 1 }, timeoutMs: 60_000 });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const api = d.endpoint('http').port;
    const b = await blast({ host: '127.0.0.1', port: d.endpoint('udp').port, seconds: SECONDS, pps: rate });
    await new Promise((r) => setTimeout(r, 1500));
    const received = (await metric(api, 'sipwarden_sip_events_total')) + (await metric(api, 'sipwarden_sip_retransmissions_total'));
    await d.stop();
    const stored = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    const country = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM ip_stats WHERE country IS NOT NULL')[0]!.n;
    return { sent: b.sent, received, stored, country };
  } finally {
    await d.stop();
    cleanup(d.dataDir);
  }
}

/** Runs the GeoIP benchmark and prints its figures. */
export async function runGeoBench(): Promise<void> {
  console.log('-- GeoIP/ASN enrichment (store writer) --');
  lookupCost();
  batchCost();
  console.log(`-- UDP ingest, enrichment on vs off (${SECONDS} s per rate; loopback: one source address, so lookups are cached) --`);
  for (const rate of RATES) {
    const off = await ingest(rate, ['--geoip-db', 'none']);
    const on = await ingest(rate, ['--asn-db', ASN]);
    const f = (x: { sent: number; received: number }): number => x.received / Math.max(1, x.sent);
    console.log(`${rate} pps: received/sent off ${(100 * f(off)).toFixed(2)} %, on ${(100 * f(on)).toFixed(2)} % (ratio ${(f(on) / Math.max(1e-9, f(off))).toFixed(3)}×); stored off ${off.stored}, on ${on.stored}`);
  }
}
