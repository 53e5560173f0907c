// The writer keeps the block facts (origin-class hit counts, number sources) exact, the migration backfills them
// from stored rows, and the reconcile query agrees with the pure policy decision.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideIp, DEFAULT_BLOCK_POLICY, type BlockPolicy } from '../../src/enforce/policy.js';
import { BlockFactsReader, qualifyingIpsQuery } from '../../src/store/block-facts.js';
import { runMigrations } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { numberKey } from '../../src/store/writer.js';
import { createTestDb, toEvent, type TestDb } from '../api/seed.js';
import Database from 'better-sqlite3';

const S = 1_000_000;
const T0 = 1_790_000_000 * S;
const dbs: TestDb[] = [];
after(() => dbs.forEach((d) => d.close()));
function fresh(): TestDb {
  const d = createTestDb('sipwarden-blockfacts-');
  dbs.push(d);
  return d;
}

describe('ip block facts', () => {
  test('local and peer hits, proven hits and newest times are kept per address across batches', () => {
    const d = fresh();
    d.insert([
      { sourceIp: '198.51.100.1', timeUs: T0, verified: false },
      { sourceIp: '198.51.100.1', timeUs: T0 + 5 * S, verified: true },
      { sourceIp: '198.51.100.1', timeUs: T0 + 9 * S, verified: false },
    ]);
    d.insert([
      { sourceIp: '198.51.100.1', timeUs: T0 + 7 * S, verified: true, origin: 'peer' },
      { sourceIp: '198.51.100.1', timeUs: T0 + 8 * S, verified: false, origin: 'peer' },
      { sourceIp: '198.51.100.1', timeUs: T0 + 1 * S, verified: true, origin: 'legacy' },
    ]);
    const r = new BlockFactsReader(d.db).ip('198.51.100.1')!;
    assert.equal(r.eventCount, 6);
    assert.equal(r.verified, true);
    assert.deepEqual(r.facts.local, { hits: 4, verifiedHits: 2, lastUs: T0 + 9 * S, lastVerifiedUs: T0 + 5 * S });
    assert.deepEqual(r.facts.peer, { hits: 2, verifiedHits: 1, lastUs: T0 + 8 * S, lastVerifiedUs: T0 + 7 * S });
    assert.equal(new BlockFactsReader(d.db).ip('198.51.100.2'), null);
  });

  test('property: the reconcile query selects exactly the addresses decideIp qualifies', () => {
    const ev = fc.record({
      ip: fc.integer({ min: 1, max: 6 }), dt: fc.integer({ min: 0, max: 100 }), verified: fc.boolean(), peer: fc.boolean(), v6: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(ev, { maxLength: 30 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 60 }), (evs, v, p, minHits, ttl) => {
      const d = createTestDb('sipwarden-blockfacts-p-');
      try {
        if (evs.length) {
          d.insert(evs.map((e) => ({
            sourceIp: e.v6 ? `2001:db8::${e.ip}` : `198.51.100.${e.ip}`, timeUs: T0 + e.dt * S, verified: e.verified, origin: e.peer ? 'peer' as const : 'local' as const,
          })));
        }
        const policy: BlockPolicy = { ...DEFAULT_BLOCK_POLICY, verifiedOnly: v, peers: p, minHits, ttlSeconds: ttl };
        const now = T0 + 80 * S;
        const reader = new BlockFactsReader(d.db);
        const all = (d.db.prepare('SELECT ip FROM ip_stats').pluck().all() as string[]).sort();
        const want = all.filter((ip) => decideIp(reader.ip(ip)!.facts, policy, now).qualifies);
        const q = qualifyingIpsQuery(policy, now);
        const got = (d.db.prepare(q.sql).all(...q.args) as { ip: string; last_us: number }[]);
        assert.deepEqual(got.map((r) => r.ip).sort(), want);
        for (const r of got) assert.equal(r.last_us + ttl * S, decideIp(reader.ip(r.ip)!.facts, policy, now).expiresUs);
        const q4 = qualifyingIpsQuery(policy, now, 4);
        assert.deepEqual((d.db.prepare(q4.sql).all(...q4.args) as { ip: string }[]).map((r) => r.ip).sort(), want.filter((ip) => !ip.includes(':')));
      } finally {
        d.close();
      }
    }), { numRuns: 40 });
  });
});

describe('reconcile query plan', () => {
  test('under the default policy the reconcile reads the block index in order: no scan, no sort', () => {
    const d = fresh();
    d.insert([{ sourceIp: '198.51.100.7', timeUs: T0, verified: true }]);
    const q = qualifyingIpsQuery(DEFAULT_BLOCK_POLICY, T0 + S);
    const plan = (d.db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.args) as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, /USING INDEX ip_stats_block_last_index/, plan);
    assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    assert.deepEqual((d.db.prepare(q.sql).all(...q.args) as { ip: string }[]).map((r) => r.ip), ['198.51.100.7']);
  });
});

describe('number block facts', () => {
  test('distinct sources per number key are exact across batches; a source becomes proven once', () => {
    const d = fresh();
    d.insert([
      { sourceIp: '198.51.100.1', calledNumber: '0046812118532', verified: false, timeUs: T0 },
      { sourceIp: '198.51.100.1', calledNumber: '+46812118532', verified: false, timeUs: T0 + S },
      { sourceIp: '198.51.100.2', calledNumber: '90046812118532', verified: true, timeUs: T0 + 2 * S },
    ]);
    d.insert([
      { sourceIp: '198.51.100.1', calledNumber: '0046812118532', verified: true, timeUs: T0 + 3 * S },
      { sourceIp: '198.51.100.2', calledNumber: '0046812118532', verified: true, timeUs: T0 + 4 * S },
      { sourceIp: '198.51.100.3', calledNumber: '100', verified: true, timeUs: T0 + 5 * S },
      { sourceIp: '198.51.100.3', calledNumber: 'alice', verified: true, timeUs: T0 + 5 * S },
      { sourceIp: '198.51.100.4', calledNumber: 'NOT_FOUND', verified: true, timeUs: T0 + 5 * S },
      // the operator's own tests: never counted as attackers of a number
      { sourceIp: '127.0.0.1', calledNumber: '0046812118532', verified: true, timeUs: T0 + 3 * S },
      { sourceIp: '::1', calledNumber: '0046812118532', verified: true, timeUs: T0 + 3 * S },
    ]);
    const r = new BlockFactsReader(d.db);
    assert.deepEqual(r.number(['+46812118532']), { key: '+46812118532', firstSeenUs: T0, facts: { hits: 5, sources: 2, verifiedSources: 2, lastUs: T0 + 4 * S } });
    assert.deepEqual(r.number(['100'])?.facts, { hits: 1, sources: 1, verifiedSources: 1, lastUs: T0 + 5 * S });
    assert.equal(r.number(['alice']), null);
    assert.equal(r.number(['NOT_FOUND']), null);
    assert.equal(r.number([]), null);
    assert.equal((d.db.prepare('SELECT COUNT(*) FROM number_sources').pluck().get() as number), 3);
  });

  test('numberKey: E.164 first, else number-like raw text, else none', () => {
    assert.equal(numberKey('0046812118532', '+46812118532'), '+46812118532');
    assert.equal(numberKey('100', null), '100');
    assert.equal(numberKey('+100', null), '+100');
    assert.equal(numberKey('alice', null), null);
    assert.equal(numberKey('NOT_FOUND', null), null);
    assert.equal(numberKey('1+2', null), null);
  });
});

describe('migration backfill', () => {
  test('a database at version 3 with rows gets the same facts as the writer would keep', () => {
    const live = fresh();
    const seed = [
      { sourceIp: '198.51.100.1', calledNumber: '0046812118532', verified: true, timeUs: T0 },
      { sourceIp: '198.51.100.1', calledNumber: '100', verified: false, timeUs: T0 + S },
      { sourceIp: '198.51.100.2', calledNumber: '0046812118532', verified: false, timeUs: T0 + 2 * S, origin: 'peer' as const },
      { sourceIp: '2001:db8::1', calledNumber: '+46812118532', verified: true, timeUs: T0 + 3 * S, origin: 'peer' as const },
      { sourceIp: '198.51.100.3', calledNumber: 'alice', verified: true, timeUs: T0 + 4 * S, origin: 'legacy' as const },
      { sourceIp: '127.0.0.1', calledNumber: '0046812118532', verified: true, timeUs: T0 + 5 * S },
      { sourceIp: 'fe80::1', calledNumber: '0046812118532', verified: true, timeUs: T0 + 5 * S },
    ];
    live.insert(seed);
    // The same rows written by a version-3 build: honey and v3 aggregates only, then migrated to 4.
    const old = new Database(':memory:');
    runMigrations(old, MIGRATIONS.filter((m) => m.version <= 3));
    const ins = old.prepare(`INSERT INTO honey (event_timestamp, event_uuid, source_ip, called_number, called_number_e164, event_time_us, origin, source_verified)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const s of seed.map(toEvent)) ins.run(s.eventTimestamp, s.eventUuid, s.sourceIp, s.calledNumber, s.calledNumberE164, s.eventTimeUs, s.origin, s.sourceVerified ? 1 : 0);
    old.exec(`INSERT INTO ip_stats (ip, first_seen_us, last_seen_us, last_honey_id, event_count)
      SELECT source_ip, MIN(event_time_us), MAX(event_time_us), MAX(honey_id), COUNT(*) FROM honey GROUP BY source_ip`);
    runMigrations(old);
    const cols = `ip, local_hits, local_verified_hits, local_last_us, local_verified_last_us, peer_hits, peer_verified_hits, peer_last_us, peer_verified_last_us`;
    assert.deepEqual(old.prepare(`SELECT ${cols} FROM ip_stats ORDER BY ip`).all(), live.db.prepare(`SELECT ${cols} FROM ip_stats ORDER BY ip`).all());
    assert.deepEqual(old.prepare('SELECT * FROM number_check_stats ORDER BY number_key').all(), live.db.prepare('SELECT * FROM number_check_stats ORDER BY number_key').all());
    assert.deepEqual(old.prepare('SELECT * FROM number_sources ORDER BY number_key, ip').all(), live.db.prepare('SELECT * FROM number_sources ORDER BY number_key, ip').all());
    old.close();
  });
});
