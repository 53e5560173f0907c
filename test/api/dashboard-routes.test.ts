// The dashboard's routes over real sockets: /api/v1/overview (token, schema, numbers from the aggregates), the
// static files under /ui/ (public, strict CSP, no inline script, a fixed file list) and both new routes in the
// OpenAPI document.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findUiDir, UI_CSP } from '../../src/api/ui.js';
import { http } from './client.js';
import { harness, type Harness } from './harness.js';

const TOKEN = 'ov-token';
const UI_SRC = fileURLToPath(new URL('../../ui/src/', import.meta.url));
const auth = { authorization: `Bearer ${TOKEN}` };

describe('dashboard routes', { timeout: 60_000 }, () => {
  let h: Harness;
  let port: number;
  const nowUs = Date.now() * 1000;
  before(async () => {
    h = await harness({ apiTokens: [TOKEN] }, { onCommit: () => () => undefined });
    h.tdb.insert([
      { sourceIp: '192.0.2.1', calledNumber: '100', method: 'INVITE', timeUs: nowUs - 30 * 60_000_000 },
      { sourceIp: '192.0.2.1', calledNumber: '100', method: 'INVITE', timeUs: nowUs - 90_000_000 },
      { sourceIp: '192.0.2.2', calledNumber: '200', method: 'OPTIONS', timeUs: nowUs - 30 * 3_600_000_000 },
    ]);
    await h.api.start();
    port = h.api.addresses()[0]!.port;
  });
  after(() => h.close());

  test('overview: 401 without the token; with it, series and top lists from the aggregates', async () => {
    assert.equal((await http(port, '/api/v1/overview')).status, 401);
    const r = await http(port, '/api/v1/overview?limit=5', { headers: auth });
    assert.equal(r.status, 200, r.body);
    const o = JSON.parse(r.body) as {
      total_events: number; minutes: { events: number }[]; hours: { events: number }[];
      top: Record<string, { key: string; events: number; last_24h: number; prev_24h: number }[]>; enforcement: { firewall: string; block_set: unknown; policy: unknown };
    };
    assert.equal(o.total_events, 3);
    assert.equal(o.minutes.length, 60);
    assert.equal(o.hours.length, 168);
    assert.equal(o.minutes.reduce((a, b) => a + b.events, 0), 2);
    assert.equal(o.hours.reduce((a, b) => a + b.events, 0), 3);
    assert.deepEqual(o.top.sources!.map((s) => [s.key, s.events, s.last_24h, s.prev_24h]), [['192.0.2.1', 2, 2, 0], ['192.0.2.2', 1, 0, 1]]);
    assert.deepEqual(o.top.methods!.map((s) => [s.key, s.events]), [['INVITE', 2], ['OPTIONS', 1]]);
    assert.deepEqual(o.enforcement, { firewall: 'off', block_set: null, policy: o.enforcement.policy });
    assert.equal((await http(port, '/api/v1/overview?limit=0', { headers: auth })).status, 400);
    assert.equal((await http(port, '/api/v1/overview?bogus=1', { headers: auth })).status, 400);
  });

  test('/ui/ is public, carries a strict CSP and loads no inline script', async (t) => {
    const dir = findUiDir();
    if (dir === null) assert.fail('dist/ui is not built (npm run build)');
    const r = await http(port, '/ui/');
    assert.equal(r.status, 200);
    assert.match(r.header('content-type') ?? '', /^text\/html/);
    assert.equal(r.header('content-security-policy'), UI_CSP);
    assert.match(UI_CSP, /default-src 'self'/);
    assert.doesNotMatch(UI_CSP, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(r.header('x-content-type-options'), 'nosniff');
    // Every script is a same-origin file; no inline code, no other origin.
    const scripts = [...r.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 1);
    for (const [, attrs, inline] of scripts) {
      assert.equal(inline!.trim(), '');
      assert.match(attrs!, /src="[a-z.]+"/);
    }
    assert.doesNotMatch(r.body, /https?:\/\//);
    const js = await http(port, '/ui/app.js');
    assert.equal(js.status, 200);
    assert.match(js.header('content-type') ?? '', /^text\/javascript/);
    assert.ok(js.body === readFileSync(join(dir!, 'app.js'), 'utf8'), 'app.js is the built file');
    // The dashboard's own code never hands text to the HTML parser.
    for (const f of readdirSync(UI_SRC)) {
      const src = readFileSync(join(UI_SRC, f), 'utf8');
      assert.ok(!/dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/.test(src), f);
    }
    const redirect = await http(port, '/ui');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.header('location'), '/ui/');
    for (const p of ['/ui/nope.js', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/sub/app.js']) {
      const x = await http(port, p);
      assert.ok(x.status === 404 || x.status === 400, `${p}: ${x.status}`);
      assert.ok(!x.body.includes('"name": "sipwarden"'), p);
    }
    t.diagnostic(`ui dir ${dir}`);
  });

  test('the OpenAPI document describes both routes with schemas; /ui is not an API route', async () => {
    const r = await http(port, '/api/v1/openapi.json', { headers: auth });
    const doc = JSON.parse(r.body) as { paths: Record<string, { get?: { responses?: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }> } }> };
    const ov = doc.paths['/api/v1/overview']!.get!.responses!['200']!.content!['application/json']!.schema!;
    assert.deepEqual(Object.keys(ov.properties!).sort(), ['countries', 'enforcement', 'generated_at', 'hours', 'minutes', 'top', 'total_events']);
    const st = doc.paths['/api/v1/events/stream']!.get!.responses!['200']!.content!['text/event-stream']!.schema!;
    assert.ok(['event_uuid', 'source_ip', 'user_agent', 'called_number', 'event_time'].every((k) => k in st.properties!));
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/ui')));
  });
});
