/**
 * SentryPeer-compatible routes: full bodies and headers over real HTTP, against seeded rows and
 * an empty database, including every error answer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS } from 'node:http';
import { formatEventTimestamp } from '../../src/events/event.js';
import { VERSION } from '../../src/version.js';
import { http, headerNames, type RawResponse } from './client.js';
import { harness, type Harness } from './harness.js';

const T0 = Date.UTC(2026, 10, 24, 17, 48, 4) * 1000;
const ts = (s: number): string => formatEventTimestamp(BigInt(T0 + s * 1_000_000) * 1000n);
const LEAD = ['date', 'content-type', 'access-control-allow-origin', 'x-powered-by', 'x-sipwarden-version'];

/** Asserts status, the exact header order/values.3 and the exact body. */
function golden(r: RawResponse, status: number, type: string, body: string, extra: string[] = []): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.body, body);
  assert.deepEqual(headerNames(r), [...LEAD, ...extra, 'content-length']);
  assert.equal(r.header('content-type'), type);
  assert.equal(r.header('access-control-allow-origin'), '*');
  assert.equal(r.header('x-powered-by'), 'sipwarden');
  assert.equal(r.header('x-sipwarden-version'), VERSION);
  assert.equal(r.header('content-length'), String(Buffer.byteLength(body)));
  assert.match(r.header('date')!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
}

const NOT_FOUND = '{"error": "The requested resource could not be found."}';
const INVALID = '{"error": "The request data was invalid"}';
const J = 'application/json';

describe('compat routes, seeded', { timeout: 60_000 }, () => {
  let h: Harness;
  let port: number;
  before(async () => {
    h = await harness({ allow: ['192.0.2.0/24'] });
    h.tdb.insert([
      { sourceIp: '203.0.113.7', timeUs: T0, method: 'OPTIONS', calledNumber: '0046812118532' },
      { sourceIp: '203.0.113.7', timeUs: T0 + 1_000_000, method: 'INVITE', calledNumber: '+441234567890' },
      { sourceIp: '2001:db8::1', timeUs: T0 + 2_000_000, method: 'OPTIONS', calledNumber: 'alice', transport: 'TCP', userAgent: 'sipsak 0.9.8.1' },
      { sourceIp: '198.51.100.9', timeUs: T0 + 3_000_000, method: 'REGISTER', calledNumber: '100' },
      // Recorded before 192.0.2.0/24 was allow-listed: must not be listed or found any more.
      { sourceIp: '192.0.2.5', timeUs: T0 + 4_000_000, method: 'OPTIONS', calledNumber: 'NOT_FOUND' },
    ]);
    await h.api.start();
    port = h.api.addresses()[0]!.port;
  });
  after(async () => h.close());

  test('/ is the literal status', async () => {
    golden(await http(port, '/'), 200, J, '{"status": "OK"}');
  });

  test('/health-check: HTML by default, JSON by Content-Type or Accept with q>0', async () => {
    const html = '<html><body><h1>Hello from sipwarden!</h1><h2>All is well!</h2></body></html>';
    const json = JSON.stringify({ status: 'OK', message: 'Hello from sipwarden!', version: VERSION }, null, 2);
    golden(await http(port, '/health-check'), 200, 'text/html', html);
    golden(await http(port, '/health-check', { headers: { accept: 'application/json' } }), 200, J, json);
    golden(await http(port, '/health-check', { headers: { 'content-type': 'Application/JSON; charset=utf-8' } }), 200, J, json);
    golden(await http(port, '/health-check', { headers: { accept: 'text/html, application/json;q=0.5' } }), 200, J, json);
    golden(await http(port, '/health-check', { headers: { accept: 'application/json;q=0' } }), 200, 'text/html', html);
    golden(await http(port, '/health-check', { headers: { accept: 'text/html' } }), 200, 'text/html', html);
  });

  test('/ip-addresses lists newest first, seen_count as string, allowed sources excluded', async () => {
    const expected = {
      ip_addresses_total: 3,
      ip_addresses: [
        { ip_address: '198.51.100.9', seen_last: ts(3), seen_count: '1' },
        { ip_address: '2001:db8::1', seen_last: ts(2), seen_count: '1' },
        { ip_address: '203.0.113.7', seen_last: ts(1), seen_count: '2' },
      ],
    };
    const body = JSON.stringify(expected, null, 2);
    assert.equal(body, `{
  "ip_addresses_total": 3,
  "ip_addresses": [
    {
      "ip_address": "198.51.100.9",
      "seen_last": "2026-11-24 17:48:07.000000000",
      "seen_count": "1"
    },
    {
      "ip_address": "2001:db8::1",
      "seen_last": "2026-11-24 17:48:06.000000000",
      "seen_count": "1"
    },
    {
      "ip_address": "203.0.113.7",
      "seen_last": "2026-11-24 17:48:05.000000000",
      "seen_count": "2"
    }
  ]
}`);
    golden(await http(port, '/ip-addresses'), 200, J, body);
  });

  test('/ip-addresses/ipset: text/plain, IPv4 then IPv6, numeric order, family filter', async () => {
    const T = 'text/plain; charset=utf-8';
    golden(await http(port, '/ip-addresses/ipset'), 200, T, '198.51.100.9\n203.0.113.7\n2001:db8::1\n');
    golden(await http(port, '/ip-addresses/ipset?family=4'), 200, T, '198.51.100.9\n203.0.113.7\n');
    golden(await http(port, '/ip-addresses/ipset?family=6'), 200, T, '2001:db8::1\n');
    golden(await http(port, '/ip-addresses/ipset?family=5'), 400, J, INVALID);
  });

  test('/ip-addresses/{ip}: normalised IPv4/IPv6 lookups, 404, 400', async () => {
    golden(await http(port, '/ip-addresses/203.0.113.7'), 200, J, '{\n  "bad_actor_found": "203.0.113.7"\n}');
    golden(await http(port, '/ip-addresses/2001:DB8:0:0:0:0:0:1'), 200, J, '{\n  "bad_actor_found": "2001:db8::1"\n}');
    golden(await http(port, '/ip-addresses/2001%3Adb8%3A%3A1'), 200, J, '{\n  "bad_actor_found": "2001:db8::1"\n}');
    golden(await http(port, '/ip-addresses/::ffff:203.0.113.7'), 200, J, '{\n  "bad_actor_found": "203.0.113.7"\n}');
    golden(await http(port, '/ip-addresses/192.0.2.5'), 404, J, '{"message": "No bad actor found"}');
    golden(await http(port, '/ip-addresses/10.0.0.1'), 404, J, '{"message": "No bad actor found"}');
    golden(await http(port, '/ip-addresses/not-an-ip'), 400, J, INVALID);
    golden(await http(port, '/ip-addresses/1.2.3.256'), 400, J, INVALID);
    golden(await http(port, '/ip-addresses/'), 404, J, NOT_FOUND);
  });

  test('/numbers lists every ^\\+?[0-9]+$ number (leading 0 kept)', async () => {
    const body = JSON.stringify({
      called_numbers_total: 3,
      called_numbers: [
        { called_number: '100', seen_last: ts(3), seen_count: '1' },
        { called_number: '+441234567890', seen_last: ts(1), seen_count: '1' },
        { called_number: '0046812118532', seen_last: ts(0), seen_count: '1' },
      ],
    }, null, 2);
    golden(await http(port, '/numbers'), 200, J, body);
  });

  test('/numbers/{n}: raw or E.164 match, echoes n; bad n → resource 404', async () => {
    const found = (n: string): string => JSON.stringify({ phone_number_found: n }, null, 2);
    golden(await http(port, '/numbers/0046812118532'), 200, J, found('0046812118532'));
    golden(await http(port, '/numbers/46812118532'), 200, J, found('46812118532'));
    golden(await http(port, '/numbers/90046812118532'), 200, J, found('90046812118532'));
    golden(await http(port, '/numbers/441234567890'), 200, J, found('441234567890'));
    golden(await http(port, '/numbers/%2B441234567890'), 200, J, found('+441234567890'));
    golden(await http(port, '/numbers/+441234567890'), 200, J, found('+441234567890'));
    golden(await http(port, '/numbers/100'), 200, J, found('100'));
    golden(await http(port, '/numbers/999'), 404, J, '{"message": "No phone number found"}');
    golden(await http(port, '/numbers/abc'), 404, J, NOT_FOUND);
    golden(await http(port, '/numbers/'), 404, J, NOT_FOUND);
    golden(await http(port, '/numbers/alice'), 404, J, NOT_FOUND);
  });

  test('former stubs: /user-agents, /sip-methods lists and lookups; /countries 404s', async () => {
    golden(await http(port, '/user-agents'), 200, J, JSON.stringify({
      user_agents_total: 2,
      user_agents: [
        { user_agent: 'friendly-scanner', seen_last: ts(4), seen_count: '4' },
        { user_agent: 'sipsak 0.9.8.1', seen_last: ts(2), seen_count: '1' },
      ],
    }, null, 2));
    golden(await http(port, '/sip-methods'), 200, J, JSON.stringify({
      sip_methods_total: 3,
      sip_methods: [
        { sip_method: 'OPTIONS', seen_last: ts(4), seen_count: '3' },
        { sip_method: 'REGISTER', seen_last: ts(3), seen_count: '1' },
        { sip_method: 'INVITE', seen_last: ts(1), seen_count: '1' },
      ],
    }, null, 2));
    golden(await http(port, '/user-agents/sipsak%200.9.8.1'), 200, J, '{\n  "user_agent_found": "sipsak 0.9.8.1"\n}');
    golden(await http(port, '/user-agents/curl'), 404, J, '{"message": "No user agent found"}');
    golden(await http(port, '/sip-methods/OPTIONS'), 200, J, '{\n  "sip_method_found": "OPTIONS"\n}');
    golden(await http(port, '/sip-methods/FOO'), 404, J, '{"message": "No SIP method found"}');
    golden(await http(port, '/countries'), 404, J, '{"message": "No countries found"}');
    golden(await http(port, '/countries/SE'), 404, J, '{"message": "No country found"}');
    golden(await http(port, '/countries/SE/Stockholm'), 404, J, '{"message": "No city found"}');
  });

  test('unknown and unanchored paths → resource 404; malformed percent-encoding → 400', async () => {
    for (const p of ['/x/numbers/100', '/ip-addresses/1.2.3.4/', '/nope', '/api/v1/..%2F..%2Fetc%2Fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/IP-ADDRESSES']) {
      golden(await http(port, p), 404, J, NOT_FOUND);
    }
    golden(await http(port, '/numbers/%zz'), 400, J, INVALID);
    // Whole-path decoding: an encoded static segment still matches.
    golden(await http(port, '/%6e%75mbers/100'), 200, J, JSON.stringify({ phone_number_found: '100' }, null, 2));
  });

  test('HEAD = GET without body; OPTIONS → 204; every other method → 405 with Allow', async () => {
    const head = await http(port, '/ip-addresses/203.0.113.7', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.header('content-length'), String(Buffer.byteLength('{\n  "bad_actor_found": "203.0.113.7"\n}')));
    assert.deepEqual(headerNames(head), [...LEAD, 'content-length']);

    const opt = await http(port, '/numbers', { method: 'OPTIONS' });
    assert.equal(opt.status, 204);
    assert.equal(opt.body, '');
    assert.equal(opt.header('allow'), 'GET, HEAD, OPTIONS');
    assert.equal(opt.header('access-control-allow-methods'), 'GET, HEAD, OPTIONS');
    assert.equal(opt.header('access-control-allow-headers'), 'Authorization, Content-Type');
    assert.equal(opt.header('access-control-max-age'), '86400');
    assert.equal(opt.header('access-control-allow-origin'), '*');

    for (const m of METHODS) {
      if (['GET', 'HEAD', 'OPTIONS', 'CONNECT'].includes(m)) continue;
      const r = await http(port, '/ip-addresses', { method: m });
      golden(r, 405, J, '{"error": "Method not allowed"}', ['allow']);
      assert.equal(r.header('allow'), 'GET, HEAD, OPTIONS', m);
    }
  });
});

describe('compat routes, empty database', { timeout: 60_000 }, () => {
  let h: Harness;
  let port: number;
  before(async () => {
    h = await harness();
    await h.api.start();
    port = h.api.addresses()[0]!.port;
  });
  after(async () => h.close());

  test('lists answer their 404 messages; ipset is empty; lookups 404', async () => {
    golden(await http(port, '/ip-addresses'), 404, J, '{"message": "No bad actors found"}');
    golden(await http(port, '/numbers'), 404, J, '{"message": "No phone numbers found"}');
    golden(await http(port, '/user-agents'), 404, J, '{"message": "No user agents found"}');
    golden(await http(port, '/sip-methods'), 404, J, '{"message": "No SIP methods found"}');
    golden(await http(port, '/ip-addresses/ipset'), 200, 'text/plain; charset=utf-8', '');
    golden(await http(port, '/ip-addresses/::1'), 404, J, '{"message": "No bad actor found"}');
    golden(await http(port, '/numbers/100'), 404, J, '{"message": "No phone number found"}');
    golden(await http(port, '/'), 200, J, '{"status": "OK"}');
  });
});

describe('compat lists, big', { timeout: 120_000 }, () => {
  let h: Harness;
  let port: number;
  const N = 5000;
  before(async () => {
    h = await harness();
    const evs = [];
    for (let i = 0; i < N; i++) {
      evs.push({ sourceIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, timeUs: T0 + (i % 977) * 1000, calledNumber: String(1000 + (i % 1500)) });
    }
    h.tdb.insert(evs);
    await h.api.start();
    port = h.api.addresses()[0]!.port;
  });
  after(async () => h.close());

  test('streamed chunked body equals JSON.stringify of the sorted list', async () => {
    const rows = h.tdb.db.prepare('SELECT ip, last_seen, event_count FROM ip_stats ORDER BY last_seen_us DESC, last_honey_id DESC').all() as { ip: string; last_seen: string; event_count: number }[];
    const expected = JSON.stringify({
      ip_addresses_total: rows.length,
      ip_addresses: rows.map((r) => ({ ip_address: r.ip, seen_last: r.last_seen, seen_count: String(r.event_count) })),
    }, null, 2);
    const r = await http(port, '/ip-addresses');
    assert.equal(r.status, 200);
    assert.equal(r.header('transfer-encoding'), 'chunked');
    assert.equal(r.header('content-type'), J);
    assert.equal(r.body, expected);
    const parsed = JSON.parse(r.body) as { ip_addresses: { ip_address: string }[] };
    assert.equal(parsed.ip_addresses.length, N);

    const nums = await http(port, '/numbers');
    assert.equal((JSON.parse(nums.body) as { called_numbers_total: number }).called_numbers_total, 1500);

    const ipset = await http(port, '/ip-addresses/ipset');
    const lines = ipset.body.trimEnd().split('\n');
    assert.equal(lines.length, N);
    assert.equal(lines[0], '10.0.0.0');
    assert.equal(lines[N - 1], `10.0.${(N - 1) >> 8}.${(N - 1) & 255}`);
    // HEAD of a big list sends no body.
    const head = await http(port, '/ip-addresses', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});
