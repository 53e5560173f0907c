/**
 * `/api/v1/check`: verdicts under the block policy from the aggregates (never `honey`), strict input validation,
 * bearer auth, and exclusions (allow-listed and loopback addresses are never "block").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from './harness.js';

const S = 1_000_000;
const NOW = Date.UTC(2026, 11, 4, 12, 0, 0) * 1000;
const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString().slice(0, 19) + '.' + String(us % S).padStart(6, '0') + 'Z';

interface Answer {
  verdict: string;
  reasons: string[];
  ip?: Record<string, unknown>;
  number?: Record<string, unknown>;
}

function seed(h: Harness): void {
  h.tdb.insert([
    // a proven attacker (TCP), 10 minutes ago
    { sourceIp: '203.0.113.7', timeUs: NOW - 600 * S, transport: 'TCP', calledNumber: '0046812118532' },
    { sourceIp: '203.0.113.7', timeUs: NOW - 300 * S, transport: 'UDP', verified: false, calledNumber: '0046812118532' },
    // unproven UDP sources only (could be forged)
    { sourceIp: '198.51.100.1', timeUs: NOW - 60 * S, verified: false, calledNumber: '+46812118532' },
    { sourceIp: '198.51.100.1', timeUs: NOW - 50 * S, verified: false, calledNumber: '+46812118532' },
    // proven, but two days ago (TTL 24 h)
    { sourceIp: '2001:db8::9', timeUs: NOW - 48 * 3600 * S, transport: 'TLS', calledNumber: '90046812118532' },
    // only seen by a peer (signed record)
    { sourceIp: '198.51.100.20', timeUs: NOW - 5 * S, verified: true, origin: 'peer', calledNumber: '100' },
    // allow-listed and loopback sources (stored as evidence)
    { sourceIp: '192.0.2.5', timeUs: NOW - 5 * S, transport: 'TCP', calledNumber: '100' },
    { sourceIp: '127.0.0.1', timeUs: NOW - 5 * S, transport: 'TCP', calledNumber: '100' },
    // a premium number three proven attackers called
    { sourceIp: '203.0.113.1', timeUs: NOW - 30 * S, transport: 'TCP', calledNumber: '00881234567890' },
    { sourceIp: '203.0.113.2', timeUs: NOW - 20 * S, transport: 'TCP', calledNumber: '00881234567890' },
    { sourceIp: '203.0.113.3', timeUs: NOW - 10 * S, transport: 'TCP', calledNumber: '00881234567890' },
  ]);
}

describe('/api/v1/check', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await harness({ allow: ['192.0.2.0/24'], apiTokens: ['tok'] }, { now: () => NOW });
    seed(h);
  });
  after(async () => h.close());

  const get = async (q: string, hh = h, token = 'tok'): Promise<{ status: number; json: Answer & { error?: string } }> => {
    const r = await hh.api.app.inject({ method: 'GET', url: `/api/v1/check${q}`, headers: { authorization: `Bearer ${token}` } });
    return { status: r.statusCode, json: JSON.parse(r.body) as Answer & { error?: string } };
  };

  test('a proven attacker is blocked until its last counted hit + 24 h', async () => {
    const r = await get('?ip=203.0.113.7');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      verdict: 'block',
      reasons: ['ip:qualifies'],
      ip: {
        address: '203.0.113.7', first_seen: iso(NOW - 600 * S), last_seen: iso(NOW - 300 * S), hits: 2, verified_hits: 1,
        verified: true, seen_by_peers: false, excluded: null, blocked_until: iso(NOW - 600 * S + 86_400 * S),
      },
    });
  });

  test('unproven UDP sources, expired blocks and unknown addresses are allowed, with the reason', async () => {
    assert.deepEqual((await get('?ip=198.51.100.1')).json.reasons, ['ip:unverified']);
    assert.equal((await get('?ip=198.51.100.1')).json.verdict, 'allow');
    assert.deepEqual((await get('?ip=2001:DB8:0::9')).json.reasons, ['ip:expired']);
    assert.equal((await get('?ip=2001:DB8:0::9')).json.ip!.address, '2001:db8::9');
    const u = await get('?ip=198.18.0.1');
    assert.deepEqual(u.json, {
      verdict: 'allow', reasons: ['ip:unknown'],
      ip: { address: '198.18.0.1', first_seen: null, last_seen: null, hits: 0, verified_hits: 0, verified: false, seen_by_peers: false, excluded: null, blocked_until: null },
    });
  });

  test('peer records count (seen_by_peers) unless --block-peers=false', async () => {
    const r = await get('?ip=198.51.100.20');
    assert.equal(r.json.verdict, 'block');
    assert.equal(r.json.ip!.seen_by_peers, true);
    const h2 = await harness({ apiTokens: ['tok'], blockPeers: false }, { now: () => NOW });
    try {
      seed(h2);
      assert.deepEqual((await get('?ip=198.51.100.20', h2)).json.reasons, ['ip:no-hits']);
    } finally {
      await h2.close();
    }
  });

  test('--block-verified-only=false counts unproven hits; --block-min-hits and --block-ttl apply', async () => {
    const h2 = await harness({ apiTokens: ['tok'], blockVerifiedOnly: false, blockMinHits: 2, blockTtl: 55 }, { now: () => NOW });
    try {
      seed(h2);
      const a = await get('?ip=198.51.100.1', h2);
      assert.equal(a.json.verdict, 'block');
      assert.equal(a.json.ip!.blocked_until, iso(NOW + 5 * S));
      assert.deepEqual((await get('?ip=198.51.100.20', h2)).json.reasons, ['ip:below-min-hits']);
      assert.deepEqual((await get('?ip=203.0.113.7', h2)).json.reasons, ['ip:expired']);
    } finally {
      await h2.close();
    }
  });

  test('allow-listed and loopback addresses are never blocked', async () => {
    const a = await get('?ip=192.0.2.5');
    assert.equal(a.json.verdict, 'allow');
    assert.deepEqual(a.json.reasons, ['ip:excluded:allow']);
    assert.equal(a.json.ip!.hits, 1);
    assert.equal(a.json.ip!.blocked_until, null);
    assert.deepEqual((await get('?ip=127.0.0.1')).json.reasons, ['ip:excluded:loopback']);
    assert.deepEqual((await get('?ip=::1')).json.reasons, ['ip:excluded:loopback']);
    assert.deepEqual((await get('?ip=fe80::1')).json.reasons, ['ip:excluded:link-local']);
  });

  test('a number that three proven attackers called is blocked, in any dialled form', async () => {
    for (const n of ['00881234567890', '+881234567890', '011881234567890']) {
      const r = await get(`?number=${encodeURIComponent(n)}`);
      assert.equal(r.status, 200, n);
      assert.deepEqual(r.json, {
        verdict: 'block', reasons: ['number:qualifies'],
        number: {
          number: n, e164: '+881234567890', hits: 3, distinct_sources: 3, verified_sources: 3, first_seen: iso(NOW - 30 * S),
          last_seen: iso(NOW - 10 * S), blocked_until: iso(NOW - 10 * S + 86_400 * S),
        },
      }, n);
    }
  });

  test('fewer distinct (proven) sources: allowed; --check-number-min-sources lowers the bar', async () => {
    const r = await get('?number=0046812118532');
    assert.equal(r.json.verdict, 'allow');
    assert.deepEqual(r.json.reasons, ['number:unverified'], 'three sources, but only two proven');
    assert.deepEqual((await get('?number=100')).json.reasons, ['number:below-min-sources']);
    assert.equal(r.json.number!.distinct_sources, 3);
    assert.equal(r.json.number!.verified_sources, 2);
    assert.equal(r.json.number!.hits, 5);
    assert.deepEqual((await get('?number=555')).json.reasons, ['number:unknown']);
    const h2 = await harness({ apiTokens: ['tok'], checkNumberMinSources: 2 }, { now: () => NOW });
    try {
      seed(h2);
      assert.equal((await get('?number=%2B46812118532', h2)).json.verdict, 'block');
    } finally {
      await h2.close();
    }
  });

  test('ip and number together: either qualifying blocks; both reasons are given', async () => {
    const r = await get('?ip=198.18.0.1&number=00881234567890');
    assert.equal(r.json.verdict, 'block');
    assert.deepEqual(r.json.reasons, ['ip:unknown', 'number:qualifies']);
    const c = await get('?ip=198.18.0.1&number=555');
    assert.equal(c.json.verdict, 'allow');
  });

  test('answers from the aggregates: the same after every honey row is gone', async () => {
    const before = await get('?ip=203.0.113.7&number=00881234567890');
    h.tdb.db.exec('DELETE FROM honey');
    const afterDelete = await get('?ip=203.0.113.7&number=00881234567890');
    assert.deepEqual(afterDelete, before);
  });

  test('bad input: 400 with a JSON error', async () => {
    for (const q of ['', '?ip=', '?ip=1.2.3', '?ip=1.2.3.4.5', '?ip=fe80::1%25eth0', '?ip=example.com', '?ip=1.2.3.4/32', '?ip=%5B::1%5D',
      '?number=', '?number=12a', '?number=%2B', '?number=' + '1'.repeat(33), '?number=%2B%2B1', '?number=1%202', '?foo=1', '?ip=1.2.3.4&x=1']) {
      const r = await get(q);
      assert.equal(r.status, 400, q);
      assert.equal(typeof r.json.error, 'string', q);
    }
  });

  test('token-protected like the rest of /api/v1', async () => {
    const r = await h.api.app.inject({ method: 'GET', url: '/api/v1/check?ip=203.0.113.7' });
    assert.equal(r.statusCode, 401);
    assert.equal((await get('?ip=203.0.113.7', h, 'wrong')).status, 401);
  });
});
