/**
 * Integer parameters (issue 11, defect 4): only canonical decimal integers within each parameter's declared
 * range pass; `1e999`, `Infinity`, `NaN`, `1.5`, `-0`, hex, padded or repeated values are a 400 naming the
 * parameter, on every route, before anything reaches the reader worker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkInteger, integerParams } from '../../src/api/params.js';
import { http } from './client.js';
import { harness, type Harness } from './harness.js';

interface Op {
  path: string;
  name: string;
  min: number;
  max: number;
  /** Query needed for the parameter to be read (e.g. format=ipset for maxelem). */
  base: string;
}

/** Every integer query parameter of every GET route, from the served OpenAPI document. */
function integerOps(doc: { paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema?: { type?: unknown; minimum?: number; maximum?: number } }[] }>> }): Op[] {
  const ops: Op[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const p of item.get?.parameters ?? []) {
      if (p.in !== 'query' || p.schema?.type !== 'integer') continue;
      assert.equal(typeof p.schema.minimum, 'number', `${path} ${p.name}: no minimum`);
      assert.equal(typeof p.schema.maximum, 'number', `${path} ${p.name}: no maximum`);
      ops.push({ path, name: p.name, min: p.schema.minimum!, max: p.schema.maximum!, base: p.name === 'maxelem' ? 'format=ipset&' : '' });
    }
  }
  return ops;
}

const BAD = [
  '1e999', '1e3', 'Infinity', '-Infinity', 'NaN', '1.5', '1.0', '-0', '+5', '0x10', '010', ' 24', '24 ', '%2024', '',
  '9007199254740993', '99999999999999999999', '1_000', '٣', 'true', 'null',
];

describe('integer parameters', { timeout: 120_000 }, () => {
  let h: Harness;
  let ops: Op[];
  before(async () => {
    h = await harness();
    h.tdb.insert([{ sourceIp: '203.0.113.7' }]);
    ops = integerOps(JSON.parse((await h.api.app.inject({ url: '/api/v1/openapi.json' })).body));
  });
  after(async () => h.close());

  test('every integer parameter declares a range; the known ones are all found', () => {
    const names = ops.map((o) => `${o.path} ${o.name}`);
    for (const want of ['/api/v1/stats hours', '/api/v1/events limit', '/api/v1/blocklist maxelem', '/api/v1/blocklist ttl', '/api/v1/blocklist min_hits', '/api/v1/ip-addresses min_count']) {
      assert.ok(names.includes(want), `${want} missing from ${names.join(', ')}`);
    }
  });

  test('regression: /api/v1/stats?hours=1e999 → 400 naming hours, at once (it froze API reads for 34 s)', async () => {
    await h.api.start();
    const port = h.api.addresses()[0]!.port;
    const t0 = Date.now();
    const r = await http(port, '/api/v1/stats?hours=1e999', { timeoutMs: 10_000 });
    assert.equal(r.status, 400);
    assert.equal(r.header('content-type'), 'application/json');
    assert.equal(r.body, '{"error": "invalid hours: expected an integer from 1 to 720"}');
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    // The reader is still fine afterwards.
    assert.equal((await http(port, '/api/v1/stats?hours=2')).status, 200);
  });

  test('regression: limit=Infinity → 400 (was 500); maxelem=Infinity → 400 (was written into the ipset export)', async () => {
    for (const url of ['/api/v1/events?limit=Infinity', '/api/v1/ip-addresses?limit=Infinity', '/api/v1/numbers?limit=1e999', '/api/v1/credentials?limit=Infinity', '/api/v1/user-agents?limit=Infinity']) {
      const r = await h.api.app.inject({ url });
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.body, '{"error": "invalid limit: expected an integer from 1 to 1000"}', url);
    }
    const r = await h.api.app.inject({ url: '/api/v1/blocklist?format=ipset&maxelem=Infinity' });
    assert.equal(r.statusCode, 400);
    assert.equal(r.body, '{"error": "invalid maxelem: expected an integer from 1024 to 16777216"}');
    assert.doesNotMatch(r.body, /create /);
  });

  test('every integer parameter of every route refuses every non-canonical or out-of-range value with a 400 naming it', async () => {
    for (const op of ops) {
      for (const bad of [...BAD, String(op.min - 1), String(op.max + 1)]) {
        const url = `${op.path}?${op.base}${op.name}=${encodeURIComponent(bad)}`;
        const r = await h.api.app.inject({ url });
        assert.equal(r.statusCode, 400, `${url} → ${r.statusCode} ${r.body}`);
        assert.equal(r.body, `{"error": "invalid ${op.name}: expected an integer from ${op.min} to ${op.max}"}`, url);
      }
      // Repeated: rejected too, and named.
      const r = await h.api.app.inject({ url: `${op.path}?${op.base}${op.name}=${op.min}&${op.name}=${op.min}` });
      assert.equal(r.statusCode, 400);
      assert.match(r.body, new RegExp(`invalid ${op.name}: given more than once`));
      // Both ends of the range pass.
      for (const ok of [op.min, op.max]) {
        const url = `${op.path}?${op.base}${op.name}=${ok}`;
        const g = await h.api.app.inject({ url });
        assert.equal(g.statusCode, 200, `${url} → ${g.statusCode} ${g.body}`);
      }
    }
  });

  test('the ipset export writes the maxelem it was given', async () => {
    const r = await h.api.app.inject({ url: '/api/v1/blocklist?format=ipset&maxelem=2048' });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /maxelem 2048 /);
  });

  test('property: random numeric-looking strings for hours → 200 exactly for canonical integers 1..720, else 400 naming hours', async () => {
    const piece = fc.constantFrom('0', '1', '7', '9', '-', '+', '.', 'e', 'E', ' ', 'x', 'Infinity', 'NaN', '00', '720', '721', '%20', '_', '٣');
    const numeric = fc.oneof(
      fc.array(piece, { minLength: 0, maxLength: 6 }).map((a) => a.join('')),
      fc.integer({ min: -1000, max: 2000 }).map(String),
      fc.double().map(String),
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
    );
    await fc.assert(
      fc.asyncProperty(numeric, async (s) => {
        const r = await h.api.app.inject({ url: `/api/v1/stats?hours=${s.replace(/ /g, '%20')}` });
        // What the query-string parser hands over (so '%20' and a literal space mean the same).
        const raw = decodeURIComponent(s.replace(/ /g, '%20').replace(/\+/g, '%20'));
        const ok = /^(0|-?[1-9][0-9]*)$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 720;
        if (ok) {
          assert.equal(r.statusCode, 200, `${s}: ${r.body}`);
          assert.equal((JSON.parse(r.body) as { hours: number }).hours, Number(raw));
        } else {
          assert.equal(r.statusCode, 400, `${JSON.stringify(s)} → ${r.statusCode} ${r.body}`);
          assert.equal(r.body, '{"error": "invalid hours: expected an integer from 1 to 720"}');
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('checkInteger (pure)', () => {
  const p = { name: 'n', min: -5, max: 10 };
  test('canonical integers in range only', () => {
    for (const ok of ['0', '-5', '10', '7', '-1']) assert.equal(checkInteger(p, ok), null, ok);
    for (const bad of ['-0', '-6', '11', '1e1', '01', '+1', '1.', '.1', 'Infinity', ' 1', '1 ', '', '0x1', '٣']) {
      assert.equal(checkInteger(p, bad), 'invalid n: expected an integer from -5 to 10', bad);
    }
    assert.match(checkInteger(p, ['1', '2'])!, /given more than once/);
    assert.ok(checkInteger(p, undefined) !== null);
  });
  test('integerParams reads ranges, defaulting to the safe-integer range', () => {
    assert.deepEqual(integerParams({ properties: { a: { type: 'integer', minimum: 1, maximum: 3 }, b: { type: 'string' }, c: { type: ['integer', 'null'] } } }), [
      { name: 'a', min: 1, max: 3 },
      { name: 'c', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
    ]);
  });
});
