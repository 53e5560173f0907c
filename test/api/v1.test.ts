/**
 * `/api/v1`: paging under concurrent inserts, every filter, every list, bad input → 4xx JSON (never 5xx),
 * and the OpenAPI document.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toE164 } from '../../src/net/numbers.js';
import { harness, type Harness } from './harness.js';
import type { SeedEvent } from './seed.js';

const T0 = Date.UTC(2026, 10, 24, 0, 0, 0) * 1000;

interface EventsPage { events: { id: number; source_ip: string; event_time: string }[]; next_cursor: string | null }

async function get<T>(h: Harness, url: string): Promise<{ status: number; body: T; raw: string }> {
  const r = await h.api.app.inject({ method: 'GET', url });
  let body: T;
  try {
    body = JSON.parse(r.body) as T;
  } catch {
    body = r.body as unknown as T;
  }
  return { status: r.statusCode, body, raw: r.body };
}

describe('v1 paging', { timeout: 180_000 }, () => {
  let h: Harness;
  const N = 25_000;
  before(async () => {
    h = await harness();
    for (let b = 0; b < N; b += 1000) {
      const evs: SeedEvent[] = [];
      // Ten events share each timestamp, so the honey_id tie-break is exercised.
      for (let i = b; i < b + 1000; i++) evs.push({ sourceIp: `10.1.${(i >> 8) & 255}.${i & 255}`, timeUs: T0 + Math.floor(i / 10) * 1000 });
      h.tdb.insert(evs);
    }
  });
  after(async () => h.close());

  async function walk(order: 'asc' | 'desc', limit: number): Promise<number[]> {
    const ids: number[] = [];
    let cursor: string | null = null;
    let k = 0;
    const ticker = setInterval(() => {
      // New events keep arriving during the walk: newer ones, and a peer event dated in the middle of the range.
      h.tdb.insert([
        ...Array.from({ length: 50 }, (_, i) => ({ sourceIp: `10.9.${k & 255}.${i}`, timeUs: T0 + 10_000_000_000 + k * 1000 + i })),
        { sourceIp: '10.8.0.1', timeUs: T0 + 1_000_000 + k, origin: 'peer' as const },
      ]);
      k++;
    }, 3);
    try {
      for (let pages = 0; pages < 200; pages++) {
        const url: string = `/api/v1/events?order=${order}&limit=${limit}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '') + '&until=2026-11-25T00:00:00Z';
        const r: { status: number; body: EventsPage; raw: string } = await get<EventsPage>(h, url);
        assert.equal(r.status, 200, r.raw);
        for (const e of r.body.events) ids.push(e.id);
        cursor = r.body.next_cursor;
        if (!cursor) break;
        await new Promise((res) => setTimeout(res, 2));
      }
    } finally {
      clearInterval(ticker);
    }
    assert.ok(k > 3, 'inserts ran during the walk');
    return ids;
  }

  test('desc walk of 25,000 events: no duplicates, no gaps, while new events arrive', async () => {
    const ids = await walk('desc', 1000);
    const originals = ids.filter((id) => id <= N);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.equal(originals.length, N, 'every original event exactly once');
    const expectedOrder = [...originals].sort((a, b) => b - a);
    assert.deepEqual(originals, expectedOrder, 'newest first (ids grow with time here)');
  });

  test('asc walk with a small page size: no duplicates, no gaps', async () => {
    const ids = await walk('asc', 777);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    const originals = ids.filter((id) => id <= N);
    assert.equal(originals.length, N);
    assert.deepEqual(originals, [...originals].sort((a, b) => a - b));
  });

  test('a cursor is refused by another list or order', async () => {
    const r = await get<EventsPage>(h, '/api/v1/events?limit=1');
    const c = encodeURIComponent(r.body.next_cursor!);
    assert.equal((await get(h, `/api/v1/events?order=asc&cursor=${c}`)).status, 400);
    assert.equal((await get(h, `/api/v1/ip-addresses?cursor=${c}`)).status, 400);
  });
});

describe('v1 filters and lists', { timeout: 120_000 }, () => {
  let h: Harness;
  const seeded: (SeedEvent & { id: number })[] = [];
  const now = T0 + 3 * 3_600_000_000;
  const peers = [{ id: '12D3KooWabc', addresses: ['/ip4/127.0.0.1/tcp/4222'], connectedSince: '2026-11-24T00:00:00Z', recordsReceived: 5, recordsRejected: 1, score: 2.5 }];
  before(async () => {
    h = await harness({}, { peers: () => peers, now: () => now });
    const ips = ['203.0.113.7', '203.0.113.200', '198.51.100.1', '2001:db8::1', '2001:db8:1::5', '192.0.2.9'];
    const numbers = ['0046812118532', '+441234567890', '100', '101', 'alice', '0044207946000', 'NOT_FOUND'];
    const methods = ['OPTIONS', 'INVITE', 'REGISTER'];
    const transports = ['UDP', 'TCP', 'TLS'] as const;
    const uas = ['friendly-scanner', 'sipsak 0.9.8.1', 'pplsip', 'Asterisk PBX'];
    const evs: SeedEvent[] = [];
    for (let i = 0; i < 300; i++) {
      evs.push({
        sourceIp: ips[i % ips.length]!,
        timeUs: T0 + i * 30_000_000,
        calledNumber: numbers[(i + (i >> 3)) % numbers.length]!,
        method: methods[i % 3]!,
        transport: transports[(i >> 1) % 3]!,
        userAgent: uas[(i * 3) % uas.length]!,
        origin: i % 10 === 0 ? 'peer' : 'local',
        verified: i % 4 === 0,
        auth: i % 25 === 0 ? { username: `user${i}`, password: i % 50 === 0 ? 'secret' : null, passwordSource: i % 50 === 0 ? 'sipvicious_tag' : null } : null,
      });
    }
    const ids = h.tdb.insert(evs);
    evs.forEach((e, i) => seeded.push({ ...e, id: ids[i]! }));
  });
  after(async () => h.close());

  async function ids(query: string): Promise<number[]> {
    const r = await get<EventsPage>(h, `/api/v1/events?limit=1000&${query}`);
    assert.equal(r.status, 200, `${query}: ${r.raw}`);
    assert.equal(r.body.next_cursor, null);
    return r.body.events.map((e) => e.id).sort((a, b) => a - b);
  }
  const expect = (pred: (e: SeedEvent & { id: number }) => boolean): number[] => seeded.filter(pred).map((e) => e.id).sort((a, b) => a - b);
  const iso = (us: number): string => new Date(us / 1000).toISOString();

  test('every events filter', async () => {
    const since = T0 + 100 * 30_000_000;
    const until = T0 + 200 * 30_000_000;
    const cases: [string, (e: SeedEvent) => boolean][] = [
      [`since=${iso(since)}`, (e) => e.timeUs! >= since],
      [`until=${iso(until)}`, (e) => e.timeUs! < until],
      [`since=${iso(since)}&until=${iso(until)}`, (e) => e.timeUs! >= since && e.timeUs! < until],
      ['source=203.0.113.7', (e) => e.sourceIp === '203.0.113.7'],
      ['source=203.0.113.0/24', (e) => e.sourceIp.startsWith('203.0.113.')],
      ['source=2001:db8::/32', (e) => e.sourceIp.startsWith('2001:db8:')],
      ['source=2001:DB8:0::1', (e) => e.sourceIp === '2001:db8::1'],
      ['source=2001:db8::1/128', (e) => e.sourceIp === '2001:db8::1'],
      ['number=004', (e) => e.calledNumber!.startsWith('004')],
      ['number=%2B46', (e) => e.calledNumber!.startsWith('+46') || (toE164(e.calledNumber!) ?? '').startsWith('+46')],
      ['number=44', (e) => e.calledNumber!.startsWith('44') || (toE164(e.calledNumber!) ?? '').startsWith('+44')],
      ['number=10', (e) => e.calledNumber!.startsWith('10') || (toE164(e.calledNumber!) ?? '').startsWith('+10')],
      ['method=INVITE', (e) => e.method === 'INVITE'],
      ['method=INVITE,REGISTER', (e) => e.method === 'INVITE' || e.method === 'REGISTER'],
      ['transport=tcp', (e) => e.transport === 'TCP'],
      ['transport=UDP,TLS', (e) => e.transport === 'UDP' || e.transport === 'TLS'],
      ['user_agent=sipsak', (e) => e.userAgent!.includes('sipsak')],
      ['user_agent=%27%3B%20DROP%20TABLE%20honey%3B--', () => false],
      ['origin=peer', (e) => e.origin === 'peer'],
      ['origin=local', (e) => e.origin === 'local'],
      ['verified=true', (e) => e.verified === true],
      ['verified=false', (e) => e.verified !== true],
      ['source=203.0.113.0/24&method=OPTIONS&verified=true', (e) => e.sourceIp.startsWith('203.0.113.') && e.method === 'OPTIONS' && e.verified === true],
    ];
    for (const [q, pred] of cases) {
      const want = expect(pred);
      assert.deepEqual(await ids(q), want, q);
    }
    // Filters that select nothing, and everything.
    assert.equal((await ids('')).length, 300);
    assert.equal((await ids('source=10.0.0.0/8')).length, 0);
    // The SQL-looking user agent did no harm.
    assert.equal((h.tdb.db.prepare('SELECT COUNT(*) AS n FROM honey').get() as { n: number }).n, 300);
  });

  test('events: message=true includes sip_message; limit pages', async () => {
    const r = await get<{ events: Record<string, unknown>[]; next_cursor: string | null }>(h, '/api/v1/events?limit=5&message=true');
    assert.equal(r.body.events.length, 5);
    assert.match(String(r.body.events[0]!.sip_message), /SIP\/2\.0/);
    assert.ok(r.body.next_cursor);
    const e = r.body.events[0]!;
    assert.equal(typeof e.id, 'number');
    assert.equal(typeof e.source_port, 'number');
    assert.match(String(e.event_time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    const r2 = await get<{ events: Record<string, unknown>[] }>(h, '/api/v1/events?limit=5');
    assert.equal('sip_message' in r2.body.events[0]!, false);
  });

  test('ip-addresses: aggregated rows, filters, paging', async () => {
    type IpRow = { ip: string; count: number; first_seen: string; last_seen: string; verified: boolean; methods: string[]; transports: string[]; distinct_numbers: number; user_agents: string[] };
    const r = await get<{ ip_addresses: IpRow[]; next_cursor: string | null }>(h, '/api/v1/ip-addresses');
    assert.equal(r.status, 200);
    assert.equal(r.body.ip_addresses.length, 6);
    const row = r.body.ip_addresses.find((x) => x.ip === '203.0.113.7')!;
    const mine = seeded.filter((e) => e.sourceIp === '203.0.113.7');
    assert.equal(row.count, mine.length);
    assert.deepEqual(row.methods, [...new Set(mine.map((e) => e.method!))].sort());
    assert.deepEqual(row.transports, [...new Set(mine.map((e) => e.transport!))].sort());
    assert.equal(row.distinct_numbers, new Set(mine.map((e) => e.calledNumber)).size);
    assert.deepEqual(new Set(row.user_agents), new Set(mine.map((e) => e.userAgent)));
    assert.equal(row.verified, mine.some((e) => e.verified));
    assert.equal(row.first_seen, new Date(Math.min(...mine.map((e) => e.timeUs!)) / 1000).toISOString().replace('Z', '000Z'));
    // newest first
    const lasts = r.body.ip_addresses.map((x) => x.last_seen);
    assert.deepEqual(lasts, [...lasts].sort().reverse());

    const v6 = await get<{ ip_addresses: IpRow[] }>(h, '/api/v1/ip-addresses?source=2001:db8::/32&details=false');
    assert.deepEqual(v6.body.ip_addresses.map((x) => x.ip).sort(), ['2001:db8:1::5', '2001:db8::1']);
    assert.equal('methods' in v6.body.ip_addresses[0]!, false);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p: { body: { ip_addresses: IpRow[]; next_cursor: string | null } } = await get(h, `/api/v1/ip-addresses?limit=4${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
      seen.push(...p.body.ip_addresses.map((x) => x.ip));
      cursor = p.body.next_cursor;
    } while (cursor);
    assert.equal(seen.length, 6);
    assert.equal(new Set(seen).size, 6);
    const verified = await get<{ ip_addresses: IpRow[] }>(h, '/api/v1/ip-addresses?verified=true');
    assert.ok(verified.body.ip_addresses.every((x) => x.verified));
    const many = await get<{ ip_addresses: IpRow[] }>(h, '/api/v1/ip-addresses?min_count=51');
    assert.ok(many.body.ip_addresses.every((x) => x.count >= 51));
  });

  test('numbers: raw, E.164, country, type, distinct sources; prefix filter', async () => {
    type N = { called_number: string; called_number_e164: string | null; country: string | null; number_type: string | null; count: number; distinct_sources: number };
    const r = await get<{ numbers: N[] }>(h, '/api/v1/numbers');
    assert.equal(r.body.numbers.length, 7);
    const se = r.body.numbers.find((n) => n.called_number === '0046812118532')!;
    assert.equal(se.called_number_e164, '+46812118532');
    assert.equal(se.country, 'SE');
    assert.equal(se.number_type, 'fixed');
    const mine = seeded.filter((e) => e.calledNumber === '0046812118532');
    assert.equal(se.count, mine.length);
    assert.equal(se.distinct_sources, new Set(mine.map((e) => e.sourceIp)).size);
    const p = await get<{ numbers: N[] }>(h, '/api/v1/numbers?number=%2B44');
    assert.deepEqual(p.body.numbers.map((n) => n.called_number).sort(), ['+441234567890', '0044207946000']);
    const c = await get<{ numbers: N[] }>(h, '/api/v1/numbers?country=SE');
    assert.deepEqual(c.body.numbers.map((n) => n.called_number), ['0046812118532']);
  });

  test('credentials, user-agents, sip-methods, stats, peers', async () => {
    const cr = await get<{ credentials: { username: string; password: string | null; password_verified: boolean | null }[] }>(h, '/api/v1/credentials');
    assert.equal(cr.body.credentials.length, seeded.filter((e) => e.auth).length);
    assert.ok(cr.body.credentials.some((c) => c.password === 'secret'));
    const one = await get<{ credentials: unknown[]; next_cursor: string }>(h, '/api/v1/credentials?limit=1');
    const two = await get<{ credentials: { username: string }[] }>(h, `/api/v1/credentials?limit=100&cursor=${encodeURIComponent(one.body.next_cursor)}`);
    assert.equal(two.body.credentials.length, cr.body.credentials.length - 1);
    const byUser = await get<{ credentials: unknown[] }>(h, '/api/v1/credentials?username=user25');
    assert.equal(byUser.body.credentials.length, 1);

    const ua = await get<{ user_agents: { user_agent: string; count: number }[] }>(h, '/api/v1/user-agents?q=sip');
    assert.deepEqual(ua.body.user_agents.map((u) => u.user_agent).sort(), ['pplsip', 'sipsak 0.9.8.1']);
    const m = await get<{ sip_methods: { method: string; count: number }[] }>(h, '/api/v1/sip-methods');
    assert.equal(m.body.sip_methods.reduce((a, x) => a + x.count, 0), 300);

    const st = await get<{ totals: Record<string, number>; series: { hour: string; events: number; udp: number }[]; hours: number }>(h, '/api/v1/stats?hours=3');
    assert.equal(st.body.totals.events, 300);
    assert.equal(st.body.totals.events_stored, 300);
    assert.equal(st.body.totals.ip_addresses, 6);
    assert.equal(st.body.series.length, 3);
    assert.equal(st.body.series[0]!.hour, '2026-11-24T01:00:00.000000Z');
    // 300 events 30 s apart from T0: hour 0 has 120, hour 1 has 120, hour 2 has 60; the series covers hours 1–3.
    assert.deepEqual(st.body.series.map((s) => s.events), [120, 60, 0]);

    const p = await get<{ peers: Record<string, unknown>[] }>(h, '/api/v1/peers');
    assert.deepEqual(p.body.peers, [{ id: '12D3KooWabc', addresses: ['/ip4/127.0.0.1/tcp/4222'], connected_since: '2026-11-24T00:00:00Z', records_received: 5, records_rejected: 1, score: 2.5 }]);
  });

  test('bad input → 4xx JSON {"error"}, never 5xx', async () => {
    const bad = [
      '/api/v1/events?bogus=1', '/api/v1/events?limit=0', '/api/v1/events?limit=1001', '/api/v1/events?limit=abc',
      '/api/v1/events?limit=1&limit=2', '/api/v1/events?cursor=garbage!', '/api/v1/events?cursor=AAAA',
      '/api/v1/events?source=1.2.3.4/33', '/api/v1/events?source=nope', '/api/v1/events?source=1.2.3.4%27%20OR%201=1--',
      '/api/v1/events?source=2001:db8::/129', '/api/v1/events?number=abc', '/api/v1/events?number=1%27%3B--',
      '/api/v1/events?since=yesterday', '/api/v1/events?until=2026-13-01T00:00:00Z', '/api/v1/events?method=IN%00VITE',
      '/api/v1/events?transport=SCTP', '/api/v1/events?origin=evil', '/api/v1/events?verified=yes', '/api/v1/events?order=sideways',
      `/api/v1/events?user_agent=${'x'.repeat(300)}`, `/api/v1/events?source=${'1'.repeat(10_000)}`, `/api/v1/events?${'a=1&'.repeat(2600)}`,
      '/api/v1/ip-addresses?min_count=-1', '/api/v1/ip-addresses?source=300.1.1.1', '/api/v1/numbers?country=sweden',
      '/api/v1/numbers?type=DROP%20TABLE', '/api/v1/stats?hours=100000', '/api/v1/blocklist?format=exe', '/api/v1/blocklist?ttl=0',
      '/api/v1/blocklist?table=bad-name', '/api/v1/blocklist?set4=x%3Bflush%20ruleset', '/api/v1/blocklist?transports=SCTP',
      '/api/v1/blocklist?since=2026-11-24', '/api/v1/peers?x=1', '/api/v1/%2e%2e/%2e%2e/etc/passwd', '/api/v1/..%252F..%252Fetc',
      '/api/v1/events%00', '/api/v1/events/../../etc/passwd',
    ];
    for (const url of bad) {
      const r = await h.api.app.inject({ method: 'GET', url });
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${url.slice(0, 80)} → ${r.statusCode} ${r.body}`);
      const body = JSON.parse(r.body) as { error?: string };
      assert.equal(typeof body.error, 'string', url.slice(0, 80));
      assert.equal(r.headers['content-type'], 'application/json');
    }
  });

  test('property: arbitrary query strings never produce a 5xx', async () => {
    const keys = fc.constantFrom('since', 'until', 'source', 'number', 'method', 'transport', 'user_agent', 'origin', 'verified', 'order', 'limit', 'cursor', 'message', 'x');
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('1.2.3.4/8', '::/0', '2026-11-24T00:00:00Z', 'true', '+44', 'UDP', '%', '%zz', "'", '"', ';--', '\u0000'));
    const routes = fc.constantFrom('/api/v1/events', '/api/v1/ip-addresses', '/api/v1/numbers', '/api/v1/credentials', '/api/v1/user-agents', '/api/v1/blocklist', '/api/v1/stats');
    await fc.assert(
      fc.asyncProperty(routes, fc.array(fc.tuple(keys, value), { maxLength: 4 }), async (route, kv) => {
        const q = kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
        const r = await h.api.app.inject({ method: 'GET', url: `${route}?${q}` });
        assert.ok(r.statusCode < 500, `${route}?${q} → ${r.statusCode} ${r.body}`);
        if (r.statusCode >= 400) assert.equal(typeof (JSON.parse(r.body) as { error: string }).error, 'string');
      }),
      { numRuns: 300 },
    );
  });

  test('OpenAPI 3.1 document lists every route with schemas', async () => {
    const r = await get<{ openapi: string; paths: Record<string, Record<string, { responses?: Record<string, unknown>; parameters?: { name: string; in: string }[] }>> }>(h, '/api/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    const expected = [
      '/', '/health-check', '/ip-addresses', '/ip-addresses/ipset', '/ip-addresses/{ip}', '/numbers', '/numbers/{n}',
      '/user-agents', '/user-agents/{v}', '/sip-methods', '/sip-methods/{v}', '/countries', '/countries/{cc}', '/countries/{cc}/{city}',
      '/api/v1/events', '/api/v1/ip-addresses', '/api/v1/numbers', '/api/v1/credentials', '/api/v1/user-agents', '/api/v1/sip-methods',
      '/api/v1/stats', '/api/v1/peers', '/api/v1/blocklist', '/api/v1/check', '/api/{key}/banned', '/api/{key}/banned/{id}', '/metrics', '/api/v1/openapi.json',
      '/api/v1/overview',
    ];
    assert.deepEqual(Object.keys(r.body.paths).sort(), [...expected].sort());
    for (const [path, item] of Object.entries(r.body.paths)) {
      assert.ok(item.get, `${path} has GET`);
      assert.ok(item.get.responses && Object.keys(item.get.responses).length > 0, `${path} has response schemas`);
    }
    const evParams = r.body.paths['/api/v1/events']!.get!.parameters!.map((p) => p.name).sort();
    assert.deepEqual(evParams, ['asn', 'country', 'cursor', 'limit', 'message', 'method', 'number', 'order', 'origin', 'since', 'source', 'transport', 'until', 'user_agent', 'verified']);
    // Every route the app serves is documented (the document is generated from the same route table).
    const routes = h.api.app.printRoutes({ commonPrefix: false });
    assert.match(routes, /banned/);
  });
});
