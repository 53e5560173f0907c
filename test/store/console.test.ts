// The dashboard's aggregates (console_minutes, console_key_totals, console_key_hours): kept by the batch writer equal
// to what a scan of `honey` says, and filled the same way by the migration on a database that already has rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { runMigrations } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { ConsoleReader, type ConsoleOverview } from '../../src/store/console.js';
import { createTestDb, toEvent, type SeedEvent } from '../api/seed.js';

const MIN = 60_000_000;
const HOUR = 3_600_000_000;

/** The overview computed by scanning `honey` (the reference the aggregates must equal). */
function scan(db: Database.Database, nowUs: number, limit: number): Pick<ConsoleOverview, 'total_events' | 'minutes' | 'hours' | 'countries'> & { top: Record<string, [string, number, number, number][]> } {
  const rows = db.prepare('SELECT source_ip, called_number, user_agent, method, source_country, source_asn, event_time_us FROM honey').all() as {
    source_ip: string; called_number: string; user_agent: string; method: string; source_country: string | null; source_asn: number | null; event_time_us: number;
  }[];
  const minuteNow = Math.floor(nowUs / MIN);
  const hourNow = Math.floor(nowUs / HOUR);
  const minutes = Array.from({ length: 60 }, (_, i) => ({ t: new Date((minuteNow - 59 + i) * 60_000).toISOString(), events: 0 }));
  const hours = Array.from({ length: 168 }, (_, i) => ({ t: new Date((hourNow - 167 + i) * 3_600_000).toISOString(), events: 0 }));
  const kinds: Record<string, (r: (typeof rows)[number]) => string | null> = {
    sources: (r) => r.source_ip, numbers: (r) => r.called_number, user_agents: (r) => r.user_agent, methods: (r) => r.method,
    countries: (r) => r.source_country, asns: (r) => (r.source_asn === null ? null : String(r.source_asn)),
  };
  const tallies: Record<string, Map<string, [number, number, number]>> = {};
  for (const k of Object.keys(kinds)) tallies[k] = new Map();
  for (const r of rows) {
    const m = Math.floor(r.event_time_us / MIN) - (minuteNow - 59);
    if (m >= 0 && m < 60) minutes[m]!.events++;
    const hIdx = Math.floor(r.event_time_us / HOUR) - (hourNow - 167);
    if (hIdx >= 0 && hIdx < 168) hours[hIdx]!.events++;
    const h = Math.floor(r.event_time_us / HOUR);
    for (const [k, f] of Object.entries(kinds)) {
      const key = f(r);
      if (key === null) continue;
      const t = tallies[k]!.get(key) ?? [0, 0, 0];
      t[0]++;
      if (h > hourNow - 24 && h <= hourNow) t[1]++;
      else if (h > hourNow - 48 && h <= hourNow - 24) t[2]++;
      tallies[k]!.set(key, t);
    }
  }
  const top: Record<string, [string, number, number, number][]> = {};
  for (const [k, m] of Object.entries(tallies)) {
    top[k] = [...m.entries()].sort((a, b) => b[1][0] - a[1][0] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([key, t]) => [key, ...t]);
  }
  const countries = [...tallies.countries!.entries()].sort((a, b) => b[1][0] - a[1][0] || (a[0] < b[0] ? -1 : 1)).map(([country, t]) => ({ country, events: t[0] }));
  return { total_events: rows.length, minutes, hours, countries, top };
}

function view(o: ConsoleOverview) {
  const top: Record<string, [string, number, number, number][]> = {};
  for (const [k, items] of Object.entries(o.top)) top[k] = items.map((i) => [i.key, i.events, i.last_24h, i.prev_24h]);
  const countries = [...o.countries].sort((a, b) => b.events - a.events || (a.country < b.country ? -1 : 1));
  return { total_events: o.total_events, minutes: o.minutes, hours: o.hours, countries, top };
}

const IPS = ['192.0.2.1', '192.0.2.2', '198.51.100.3', '2001:db8::1'];
const COUNTRY: Record<string, [string, number] | null> = { '192.0.2.1': ['GB', 1], '192.0.2.2': ['SE', 29518], '198.51.100.3': null, '2001:db8::1': ['JP', 2497] };

const arbEvents = (nowUs: number) => fc.array(fc.record({
  ip: fc.constantFrom(...IPS),
  number: fc.constantFrom('100', '0046812118532', '+441234567890', 'alice'),
  ua: fc.constantFrom('friendly-scanner', 'sipsak 0.9.8', '<script>x</script>', ''),
  method: fc.constantFrom('OPTIONS', 'INVITE', 'REGISTER'),
  // From 9 days ago to now: old events count in totals only, recent ones in the series and trends too.
  ageUs: fc.integer({ min: 0, max: 9 * 24 * 3600 }).map((s) => s * 1_000_000),
}), { minLength: 1, maxLength: 120 }).map((xs) => xs.map((x) => {
  const seed: SeedEvent = { sourceIp: x.ip, calledNumber: x.number, userAgent: x.ua, method: x.method, timeUs: nowUs - x.ageUs };
  const e = toEvent(seed);
  const geo = COUNTRY[x.ip];
  return { ...e, sourceCountry: geo?.[0] ?? null, sourceAsn: geo?.[1] ?? null, sourceOrg: geo ? `org ${geo[1]}` : null };
}));

describe('console aggregates', () => {
  test('property: after any batches, the overview equals a scan of honey', () => {
    const nowUs = Date.now() * 1000;
    fc.assert(fc.property(fc.array(arbEvents(nowUs), { minLength: 1, maxLength: 4 }), (batches) => {
      const tdb = createTestDb('sipwarden-console-');
      try {
        for (const b of batches) tdb.writer.write(b);
        const got = view(new ConsoleReader(tdb.db).overview(nowUs, 3));
        assert.deepEqual(got, scan(tdb.db, nowUs, 3));
        const asn = new ConsoleReader(tdb.db).overview(nowUs, 10).top.asns;
        for (const a of asn) assert.equal(a.label, `org ${a.key}`);
      } finally {
        tdb.close();
      }
    }), { numRuns: 25 });
  });

  test('the migration fills the tables from rows already stored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipwarden-console-mig-'));
    try {
      const db = new Database(join(dir, 'old.db'));
      runMigrations(db, MIGRATIONS.filter((m) => m.version <= 6));
      const nowUs = Date.now() * 1000;
      const ins = db.prepare(`INSERT INTO honey (event_uuid, source_ip, called_number, method, user_agent, event_time_us, source_country, source_asn, source_org)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      const seen = fc.sample(arbEvents(nowUs), { numRuns: 3, seed: 7 }).flat();
      for (const e of seen) ins.run(e.eventUuid, e.sourceIp, e.calledNumber, e.method, e.userAgent, e.eventTimeUs, e.sourceCountry, e.sourceAsn, e.sourceOrg);
      runMigrations(db, MIGRATIONS);
      const got = view(new ConsoleReader(db).overview(nowUs, 3));
      assert.equal(got.total_events, seen.length);
      assert.deepEqual(got, scan(db, nowUs, 3));
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
