/**
 * GeoIP through the API: SentryPeer's /countries routes answer from the writer's lookups, and the v1 lists and
 * blocklist filter by country and ASN (data: MaxMind's public test databases, enriched by the real writer path).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enrichEvents, GeoLookup } from '../../src/geo/lookup.js';
import { harness, type Harness } from './harness.js';
import { createTestDb, toEvent, type SeedEvent } from './seed.js';

const FIX = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
const geo = new GeoLookup({ geoip: join(FIX, 'GeoIP2-City-Test.mmdb'), asn: join(FIX, 'GeoLite2-ASN-Test.mmdb') });

async function get(h: Harness, url: string): Promise<{ status: number; body: string }> {
  const r = await h.api.app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.body };
}

describe('geo routes and filters', () => {
  let h: Harness;
  const base = Date.now() * 1000 - 60_000_000;
  before(async () => {
    const tdb = createTestDb();
    const seed: SeedEvent[] = [
      { sourceIp: '81.2.69.142', timeUs: base },
      { sourceIp: '81.2.69.160', timeUs: base + 1_000_000 },
      { sourceIp: '89.160.20.112', timeUs: base + 2_000_000 },
      { sourceIp: '89.160.20.112', timeUs: base + 3_000_000 },
      { sourceIp: '214.78.120.1', timeUs: base + 4_000_000, origin: 'peer' },
      { sourceIp: '127.0.0.1', timeUs: base + 5_000_000 },
    ];
    const events = seed.map(toEvent);
    enrichEvents(events, geo);
    tdb.writer.write(events);
    h = await harness({}, { tdb });
  });
  after(async () => h.close());

  test('/countries: SentryPeer list shape, newest first, counts as strings', async () => {
    const r = await get(h, '/countries');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { countries_total: number; countries: { country: string; seen_last: string; seen_count: string }[] };
    assert.equal(body.countries_total, 3);
    assert.deepEqual(body.countries.map((c) => [c.country, c.seen_count]), [['US', '1'], ['SE', '2'], ['GB', '2']]);
    assert.equal(typeof body.countries[0]!.seen_last, 'string');
    assert.deepEqual(Object.keys(body), ['countries_total', 'countries']);
  });

  test('/countries/{cc} and /countries/{cc}/{city}', async () => {
    assert.deepEqual(await get(h, '/countries/GB'), { status: 200, body: JSON.stringify({ country_found: 'GB' }, null, 2) });
    assert.equal(JSON.parse((await get(h, '/countries/se')).body).country_found, 'se');
    assert.deepEqual(JSON.parse((await get(h, '/countries/FR')).body), { message: 'No country found' });
    assert.equal((await get(h, '/countries/FR')).status, 404);
    assert.equal((await get(h, '/countries/GBR')).status, 404);
    const city = await get(h, '/countries/GB/London');
    assert.equal(city.status, 200);
    assert.deepEqual(JSON.parse(city.body), { city_found: 'London' });
    assert.deepEqual(JSON.parse((await get(h, `/countries/SE/${encodeURIComponent('Linköping')}`)).body), { city_found: 'Linköping' });
    const none = await get(h, '/countries/GB/Paris');
    assert.equal(none.status, 404);
    assert.deepEqual(JSON.parse(none.body), { message: 'No city found' });
  });

  test('/api/v1/events: country and asn filters and fields', async () => {
    const se = JSON.parse((await get(h, '/api/v1/events?country=se')).body) as { events: Record<string, unknown>[] };
    assert.equal(se.events.length, 2);
    for (const e of se.events) {
      assert.equal(e.source_country, 'SE');
      assert.equal(e.source_city, 'Linköping');
      assert.equal(e.source_asn, 29518);
      assert.equal(e.source_org, 'Bredband2 AB');
    }
    const as721 = JSON.parse((await get(h, '/api/v1/events?asn=721')).body) as { events: Record<string, unknown>[] };
    assert.deepEqual(as721.events.map((e) => e.source_ip), ['214.78.120.1']);
    const local = JSON.parse((await get(h, '/api/v1/events?source=127.0.0.1')).body) as { events: Record<string, unknown>[] };
    assert.equal(local.events[0]!.source_country, null);
    assert.equal(local.events[0]!.source_asn, null);
    assert.equal((await get(h, '/api/v1/events?country=X1')).status, 400);
    assert.equal((await get(h, '/api/v1/events?asn=abc')).status, 400);
  });

  test('/api/v1/ip-addresses: country and asn filters and fields', async () => {
    const gb = JSON.parse((await get(h, '/api/v1/ip-addresses?country=GB&details=false')).body) as { ip_addresses: Record<string, unknown>[] };
    assert.deepEqual(gb.ip_addresses.map((i) => [i.ip, i.country, i.city, i.asn]).sort(), [
      ['81.2.69.142', 'GB', 'London', null], ['81.2.69.160', 'GB', 'London', null],
    ]);
    const se = JSON.parse((await get(h, '/api/v1/ip-addresses?asn=29518')).body) as { ip_addresses: Record<string, unknown>[] };
    assert.deepEqual(se.ip_addresses.map((i) => [i.ip, i.count, i.org]), [['89.160.20.112', 2, 'Bredband2 AB']]);
  });

  test('/api/v1/blocklist: country= and asn= filters', async () => {
    const gb = await get(h, '/api/v1/blocklist?country=gb');
    assert.equal(gb.status, 200);
    assert.deepEqual(gb.body.trim().split('\n').sort(), ['81.2.69.142', '81.2.69.160']);
    const as721 = await get(h, '/api/v1/blocklist?asn=721');
    assert.deepEqual(as721.body.trim().split('\n'), ['214.78.120.1']);
    // Loopback is never exported (the never-blocked list), whatever its country.
    const all = await get(h, '/api/v1/blocklist');
    assert.deepEqual(all.body.trim().split('\n').sort(), ['214.78.120.1', '81.2.69.142', '81.2.69.160', '89.160.20.112']);
  });
});

test('/countries without any geo data: 404 No countries found', async () => {
  const h = await harness();
  try {
    h.tdb.insert([{ sourceIp: '127.0.0.1' }]);
    const r = await get(h, '/countries');
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { message: 'No countries found' });
  } finally {
    await h.close();
  }
});
