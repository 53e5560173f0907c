/**
 * GeoIP/ASN enrichment in the store writer (worker thread and main-thread writer): local and peer events get the
 * local lookup's country/city/ASN (a peer's claim is overwritten), ip_stats gets the geo columns, and a reload
 * swaps the database for new lookups.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeEvent, openStore, tempDir } from './helpers.js';

const FIX = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
const CITY = join(FIX, 'GeoIP2-City-Test.mmdb');
const COUNTRY = join(FIX, 'GeoIP2-Country-Test.mmdb');
const ASN = join(FIX, 'GeoLite2-ASN-Test.mmdb');

interface Row { source_ip: string; origin: string; source_country: string | null; source_city: string | null; source_asn: number | null; source_org: string | null }

for (const writer of ['worker', 'main'] as const) {
  describe(`geo enrichment (${writer} writer)`, () => {
    test('local and peer events, ip_stats columns, reload', async () => {
      const { dir, cleanup } = tempDir();
      try {
        const geoFile = join(dir, 'geo.mmdb');
        copyFileSync(COUNTRY, geoFile);
        const path = join(dir, 'sipwarden.db');
        const { store } = openStore(path, { writer, geo: { geoip: geoFile, asn: ASN } });
        await store.start();
        assert.equal(store.writerMode, writer);
        store.append(makeEvent({ sourceIp: '89.160.20.112' }));
        store.append(makeEvent({ sourceIp: '89.160.20.112' }));
        // A peer claims a country; the local lookup wins (and a peer claim for an unknown address becomes null).
        store.append(makeEvent({ sourceIp: '214.78.120.1', origin: 'peer', originPeerId: 'peerA', sourceCountry: 'KP', sourceCity: 'Fake' }));
        store.append(makeEvent({ sourceIp: '127.0.0.1', origin: 'peer', originPeerId: 'peerA', sourceCountry: 'FR' }));
        await store.flush();
        // Swap to the City database: addresses already cached keep their answer until reload clears the cache.
        copyFileSync(CITY, geoFile);
        assert.equal(await store.reloadGeo(), null);
        store.append(makeEvent({ sourceIp: '81.2.69.142' }));
        store.append(makeEvent({ sourceIp: '89.160.20.112' }));
        await store.flush();
        const { writeFileSync } = await import('node:fs');
        writeFileSync(geoFile, 'not a database');
        assert.match((await store.reloadGeo()) ?? '', /not a MaxMind DB file/);
        store.append(makeEvent({ sourceIp: '175.16.199.1' }));
        await store.flush();
        await store.stop();

        const db = new Database(path, { readonly: true });
        try {
          const rows = db.prepare('SELECT source_ip, origin, source_country, source_city, source_asn, source_org FROM honey ORDER BY honey_id').all() as Row[];
          assert.deepEqual(rows.map((r) => [r.source_ip, r.origin, r.source_country, r.source_city, r.source_asn, r.source_org]), [
            ['89.160.20.112', 'local', 'SE', null, 29518, 'Bredband2 AB'],
            ['89.160.20.112', 'local', 'SE', null, 29518, 'Bredband2 AB'],
            ['214.78.120.1', 'peer', 'US', null, 721, 'DoD Network Information Center'],
            ['127.0.0.1', 'peer', null, null, null, null],
            ['81.2.69.142', 'local', 'GB', 'London', null, null],
            ['89.160.20.112', 'local', 'SE', 'Linköping', 29518, 'Bredband2 AB'],
            ['175.16.199.1', 'local', 'CN', 'Changchun', null, null], // the failed reload kept the City database
          ]);
          const stats = db.prepare('SELECT ip, country, city, asn, org, event_count FROM ip_stats ORDER BY ip').all();
          assert.deepEqual(stats, [
            { ip: '127.0.0.1', country: null, city: null, asn: null, org: null, event_count: 1 },
            { ip: '175.16.199.1', country: 'CN', city: 'Changchun', asn: null, org: null, event_count: 1 },
            { ip: '214.78.120.1', country: 'US', city: null, asn: 721, org: 'DoD Network Information Center', event_count: 1 },
            { ip: '81.2.69.142', country: 'GB', city: 'London', asn: null, org: null, event_count: 1 },
            { ip: '89.160.20.112', country: 'SE', city: 'Linköping', asn: 29518, org: 'Bredband2 AB', event_count: 3 },
          ]);
        } finally {
          db.close();
        }
      } finally {
        cleanup();
      }
    });
  });
}

test('without a database the geo columns are null, even for a peer claim', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'sipwarden.db');
    const { store } = openStore(path, { geo: null });
    await store.start();
    store.append(makeEvent({ sourceIp: '81.2.69.142', origin: 'peer', originPeerId: 'p', sourceCountry: 'GB' }));
    await store.flush();
    await store.stop();
    const db = new Database(path, { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT source_country, source_asn FROM honey').get(), { source_country: null, source_asn: null });
    } finally {
      db.close();
    }
  } finally {
    cleanup();
  }
});

test('the JSON log (a writer-thread observer) sees the local lookup, not the peer claim', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { jsonLogObserver } = await import('../../src/sinks/json-log.js');
    const { readFileSync } = await import('node:fs');
    const path = join(dir, 'sipwarden.db');
    const log = join(dir, 'events.jsonl');
    const { store } = openStore(path, { geo: { geoip: CITY, asn: ASN } });
    store.addBatchObserver(jsonLogObserver(log));
    await store.start();
    store.append(makeEvent({ sourceIp: '81.2.69.142' }));
    store.append(makeEvent({ sourceIp: '89.160.20.112', origin: 'peer', originPeerId: 'p', sourceCountry: 'KP' }));
    await store.flush();
    await store.stop();
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { source_ip: string; source_country: string | null });
    assert.deepEqual(lines.map((l) => [l.source_ip, l.source_country]), [['81.2.69.142', 'GB'], ['89.160.20.112', 'SE']]);
  } finally {
    cleanup();
  }
});
