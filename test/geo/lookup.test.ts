/**
 * GeoIP/ASN lookups over MaxMind's own public test databases (test/fixtures/geoip): known addresses map to the
 * countries, cities and AS numbers the test data defines; bad files fail with the path and the cause; reload swaps.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  builtinCountryDbPath, enrichEvents, GeoDatabaseError, GeoLookup, geoPathsOf, openGeoDatabase, type Enrichable,
} from '../../src/geo/lookup.js';
import { checkGeoDatabases } from '../../src/geo/check.js';
import { ConfigError } from '../../src/errors.js';

const FIX = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
const CITY = join(FIX, 'GeoIP2-City-Test.mmdb');
const COUNTRY = join(FIX, 'GeoIP2-Country-Test.mmdb');
const ASN = join(FIX, 'GeoLite2-ASN-Test.mmdb');

describe('GeoLookup over MaxMind test databases', () => {
  test('City + ASN: known test addresses', () => {
    const g = new GeoLookup({ geoip: CITY, asn: ASN });
    assert.deepEqual(g.lookup('81.2.69.142'), { country: 'GB', city: 'London', asn: null, org: null });
    assert.deepEqual(g.lookup('89.160.20.112'), { country: 'SE', city: 'Linköping', asn: 29518, org: 'Bredband2 AB' });
    assert.deepEqual(g.lookup('214.78.120.1'), { country: 'US', city: 'San Diego', asn: 721, org: 'DoD Network Information Center' });
    assert.deepEqual(g.lookup('2001:218::1'), { country: 'JP', city: null, asn: null, org: null });
    assert.deepEqual(g.lookup('1.0.0.1'), { country: null, city: null, asn: 15169, org: 'Google Inc.' });
    assert.deepEqual(g.lookup('127.0.0.1'), { country: null, city: null, asn: null, org: null });
    assert.deepEqual(g.lookup('not an address'), { country: null, city: null, asn: null, org: null });
  });

  test('Country database: country, no city', () => {
    const g = new GeoLookup({ geoip: COUNTRY, asn: null });
    assert.deepEqual(g.lookup('175.16.199.1'), { country: 'CN', city: null, asn: null, org: null });
  });

  test('embedded DB-IP country database (flat country_code records)', () => {
    const g = new GeoLookup(geoPathsOf(null, null));
    assert.equal(g.paths.geoip, builtinCountryDbPath());
    assert.equal(g.lookup('81.2.69.142').country, 'GB');
    assert.equal(g.lookup('8.8.8.8').country, 'US');
    assert.equal(g.lookup('127.0.0.1').country, null);
    assert.deepEqual(geoPathsOf('none', null), { geoip: null, asn: null });
  });

  test('each address is looked up once while cached; the cache is bounded (LRU)', () => {
    const g = new GeoLookup({ geoip: CITY, asn: ASN }, 2);
    g.lookup('81.2.69.142'); g.lookup('81.2.69.142'); g.lookup('89.160.20.112');
    assert.equal(g.misses, 2);
    g.lookup('81.2.69.142'); // refreshes 81.2.69.142; 89.160.20.112 is now the oldest
    g.lookup('214.78.120.1'); // evicts 89.160.20.112
    assert.equal(g.misses, 3);
    g.lookup('81.2.69.142');
    assert.equal(g.misses, 3);
    g.lookup('89.160.20.112');
    assert.equal(g.misses, 4);
  });

  test('reload: swap the file, new lookups use it; a bad file keeps the old database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipwarden-geo-'));
    try {
      const f = join(dir, 'geo.mmdb');
      copyFileSync(COUNTRY, f);
      const g = new GeoLookup({ geoip: f, asn: null });
      assert.equal(g.lookup('81.2.69.142').city, null);
      copyFileSync(CITY, f);
      g.reload();
      assert.equal(g.lookup('81.2.69.142').city, 'London', 'cache cleared, new file used');
      writeFileSync(f, 'garbage');
      assert.throws(() => g.reload(), GeoDatabaseError);
      assert.equal(g.lookup('89.160.20.112').city, 'Linköping', 'old database still answers');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('enrichEvents overwrites claims (peers are not trusted) and nulls them without a database', () => {
    const g = new GeoLookup({ geoip: CITY, asn: ASN });
    const evs: Enrichable[] = [
      { sourceIp: '89.160.20.112', sourceCountry: 'KP', sourceCity: 'Nowhere' },
      { sourceIp: '127.0.0.1', sourceCountry: 'US', sourceCity: null },
    ];
    enrichEvents(evs, g);
    assert.deepEqual(evs[0], { sourceIp: '89.160.20.112', sourceCountry: 'SE', sourceCity: 'Linköping', sourceAsn: 29518, sourceOrg: 'Bredband2 AB' });
    assert.deepEqual(evs[1], { sourceIp: '127.0.0.1', sourceCountry: null, sourceCity: null, sourceAsn: null, sourceOrg: null });
    const e: Enrichable = { sourceIp: '81.2.69.142', sourceCountry: 'FR', sourceCity: null };
    enrichEvents([e], null);
    assert.equal(e.sourceCountry, null);
  });
});

describe('bad database files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipwarden-geo-'));
  test('missing, garbage, truncated, wrong kind: GeoDatabaseError naming path and cause', () => {
    try {
      const missing = join(dir, 'missing.mmdb');
      assert.throws(() => openGeoDatabase('geoip', missing), (e: Error) => e instanceof GeoDatabaseError && e.message === `cannot use ${missing}: no such file`);
      const garbage = join(dir, 'garbage.mmdb');
      writeFileSync(garbage, Buffer.alloc(4096, 0x41));
      assert.throws(() => openGeoDatabase('geoip', garbage), (e: Error) => e.message.startsWith(`cannot use ${garbage}: not a MaxMind DB file`));
      const trunc = join(dir, 'trunc.mmdb');
      writeFileSync(trunc, readFileSync(CITY).subarray(0, 6000));
      assert.throws(() => openGeoDatabase('geoip', trunc), GeoDatabaseError);
      assert.throws(() => openGeoDatabase('asn', CITY), /is not an ASN database/);
      assert.throws(() => openGeoDatabase('geoip', ASN), /is an ASN database/);
      assert.throws(() => checkGeoDatabases({ geoipDb: null, asnDb: missing }), (e: Error) => e instanceof ConfigError && e.where === '--asn-db' && e.exitCode === 2);
      assert.deepEqual(checkGeoDatabases({ geoipDb: 'none', asnDb: null }), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
