/**
 * The API rate limit (issue 11, defect 5) counts every request per source address, before authentication and
 * routing: unauthenticated requests, unknown paths, wrong methods and /metrics use up the same budget;
 * /health-check is never limited (and uses none of it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OVERFLOW_KEY, RateLimiter } from '../../src/api/rate-limit.js';
import { http } from './client.js';
import { harness, type Harness } from './harness.js';

describe('rate limit before authentication and routing', { timeout: 60_000 }, () => {
  let h: Harness;
  let port: number;
  let port6: number;
  before(async () => {
    // The default, 20 req/s = 100 requests per 5 s window, with a token so unauthenticated requests get 401.
    h = await harness({ apiRateLimit: 20, apiTokens: ['sekret-token'], apiListen: [{ ip: '127.0.0.1', port: 0 }, { ip: '::1', port: 0 }] });
    await h.api.start();
    port = h.api.addresses()[0]!.port;
    port6 = h.api.addresses()[1]!.port;
  });
  after(async () => h.close());
  /** Makes sure 127.0.0.1 is over its budget right now. */
  const exhaust = async (): Promise<void> => {
    for (let i = 0; i < 200; i++) if ((await http(port, '/nope')).status === 429) return;
    assert.fail('never limited');
  };

  test('regression: 160 unauthenticated requests → 100× 401, then 429 + Retry-After (was 160× 401)', async () => {
    const statuses: number[] = [];
    let limited;
    const t0 = Date.now();
    for (let i = 0; i < 160; i++) {
      const r = await http(port, i % 2 ? '/ip-addresses' : '/api/v1/events');
      statuses.push(r.status);
      if (r.status === 429) limited ??= r;
    }
    if (Date.now() - t0 < 4500) assert.deepEqual(statuses, [...Array(100).fill(401), ...Array(60).fill(429)]);
    else assert.deepEqual(statuses.slice(0, 101), [...Array(100).fill(401), 429], 'slow machine: at least the 101st is limited');
    assert.ok(limited);
    assert.equal(limited.body, '{"error": "Too many requests"}');
    assert.match(limited.header('retry-after')!, /^[1-5]$/);
    assert.equal(limited.header('content-type'), 'application/json');
    assert.equal(limited.headers[0]![0], 'date');
    assert.equal(limited.header('www-authenticate'), undefined, 'the token is not even looked at');
  });

  test('an over-budget source gets 429 for a valid token, a wrong method, an over-long URL and /metrics', async () => {
    // Each check right after making sure the source is over its budget (the 5 s window may have ended on a slow machine).
    const auth = { authorization: 'Bearer sekret-token' };
    await exhaust();
    assert.equal((await http(port, '/', { headers: auth })).status, 429, 'a valid token does not buy more');
    await exhaust();
    assert.equal((await http(port, '/ip-addresses', { method: 'POST', body: 'x' })).status, 429);
    await exhaust();
    assert.equal((await http(port, `/api/v1/events?user_agent=${'x'.repeat(5000)}`)).status, 429);
    await exhaust();
    assert.equal((await http(port, '/metrics', { headers: auth })).status, 429);
  });

  test('/health-check is never limited, even for a source over its budget', async () => {
    await exhaust();
    for (let i = 0; i < 20; i++) {
      const r = await http(port, '/health-check');
      assert.equal(r.status, 200);
    }
    assert.equal((await http(port, '/health-check', { method: 'HEAD' })).status, 200);
  });

  test('unknown paths are limited too (own source: ::1); health checks use none of the budget', async () => {
    for (let i = 0; i < 50; i++) assert.equal((await http(port6, '/health-check', { host: '::1' })).status, 200);
    const statuses: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 103; i++) statuses.push((await http(port6, `/no/such/path/${i}`, { host: '::1' })).status);
    // The window started with the first health check only if health checks counted: they do not.
    if (Date.now() - t0 < 4500) assert.deepEqual(statuses, [...Array(100).fill(401), 429, 429, 429]);
    else assert.deepEqual(statuses.slice(0, 101), [...Array(100).fill(401), 429]);
  });

  test('per source: the metrics count the 429s by route', async () => {
    const m = await h.metrics.registry.metrics();
    assert.match(m, /sipwarden_api_requests_total\{route="unmatched",status="429"\} \d+/);
    assert.match(m, /sipwarden_api_requests_total\{route="\/ip-addresses",status="429"\} \d+/);
  });
});

describe('rate limit without a token', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await harness({ apiRateLimit: 1 });
    await h.api.start();
  });
  after(async () => h.close());

  test('unknown paths (404) and known ones share the budget', async () => {
    const port = h.api.addresses()[0]!.port;
    const s: number[] = [];
    for (let i = 0; i < 3; i++) s.push((await http(port, '/nope')).status);
    for (let i = 0; i < 3; i++) s.push((await http(port, '/')).status);
    assert.deepEqual(s, [404, 404, 404, 200, 200, 429]);
  });
});

describe('RateLimiter (pure)', () => {
  test('fixed window per key; Retry-After counts down; the window restarts after it ends', () => {
    let now = 1_000_000;
    const rl = new RateLimiter({ max: 3, windowMs: 5000, now: () => now });
    assert.deepEqual([rl.hit('a'), rl.hit('a'), rl.hit('a')], [0, 0, 0]);
    assert.equal(rl.hit('a'), 5);
    assert.equal(rl.hit('b'), 0);
    now += 3200;
    assert.equal(rl.hit('a'), 2);
    now += 1800;
    assert.equal(rl.hit('a'), 0);
  });

  test('bounded table: expired windows are swept; sources beyond the bound share one budget', () => {
    let now = 0;
    const rl = new RateLimiter({ max: 2, windowMs: 1000, maxKeys: 100, now: () => now });
    for (let i = 0; i < 100; i++) rl.hit(`k${i}`);
    assert.equal(rl.size, 100);
    // Full: new sources share the overflow budget (2), so a flood from many addresses is limited as a whole.
    assert.deepEqual([rl.hit('new1'), rl.hit('new2'), rl.hit('new3')].map((x) => x > 0), [false, false, true]);
    assert.ok(rl.size <= 101);
    // Tracked sources keep their own budget meanwhile.
    assert.equal(rl.hit('k1'), 0);
    now += 1000;
    rl.hit('fresh');
    assert.equal(rl.size, 1, 'expired windows swept');
    assert.equal(OVERFLOW_KEY.includes('overflow'), true);
  });

  test('a million distinct sources stay within the bound', () => {
    let now = 0;
    const rl = new RateLimiter({ max: 5, windowMs: 5000, maxKeys: 10_000, now: () => now });
    for (let i = 0; i < 1_000_000; i++) {
      rl.hit(`2001:db8::${i.toString(16)}`);
      if (i % 1000 === 0) now += 1;
    }
    assert.ok(rl.size <= 10_001, `size ${rl.size}`);
  });
});
