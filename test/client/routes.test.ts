/**
 * The typed client (`src/client`) against a live node (dist/, real sipsak and svmap probes): every /api/v1 route,
 * the paging iterators equal the sqlite rows, the SSE iterator, typed errors, and the committed generated types
 * equal what the served OpenAPI document generates (drift check).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  ApiHttpError, ApiUnreachableError, SipwardenClient, type ItemOf, type ResponseOf,
} from '../../src/client/index.js';
import { generateClientTypes, SCHEMA_FILE } from '../../scripts/gen-client-types.js';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { freePort, queryDb, runTool } from '../helpers/net.js';

const TOKEN = 'client-routes-token';
const NUMBERS = ['4711', '4712', '+441234567', '0046812118532', '100', '101'];

describe('typed client against a live node', { timeout: 240_000 }, () => {
  let d: Daemon;
  let api: SipwardenClient;
  let base: string;
  let honeyCount = 0;

  before(async () => {
    d = await startDaemon(['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-token', TOKEN, '--sip-listen', '127.0.0.1:0'], { expect: { udp: 1, tcp: 1, http: 1 } });
    const sip = d.endpoint('udp').port;
    base = `http://127.0.0.1:${d.endpoint('http').port}`;
    api = new SipwardenClient({ baseUrl: base, token: TOKEN });
    for (const n of NUMBERS) await runTool('sipsak', ['-s', `sip:${n}@127.0.0.1:${sip}`], 20_000);
    await runTool('sipsak', ['-E', 'tcp', '-s', `sip:4799@127.0.0.1:${sip}`], 20_000);
    const lp = await freePort();
    await runTool('svmap', ['-P', String(lp), `-p${sip}`, '127.0.0.1'], 40_000);
    // svcrack: digest REGISTERs against the decoy extension (credentials with recovered passwords).
    await runTool('svcrack', ['-P', String(await freePort()), '-p', String(sip), '-u', '100', '-r', '1000-1002', '127.0.0.1'], 60_000);
    // Every probe is in the file (the writer batches): at least one row per sipsak run plus svmap's.
    await waitFor(() => queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n >= NUMBERS.length + 2, 30_000, 100);
    // Then wait until the count stops moving, so the API and the file are compared on the same rows.
    let last = -1;
    await waitFor(() => {
      const n = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
      const still = n === last;
      last = n;
      return still;
    }, 30_000, 1000);
    honeyCount = last;
  });
  after(async () => {
    const code = await d.stop();
    assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr()}`);
    cleanup(d.dataDir);
  });

  test('events: the paging iterator yields exactly the honey rows (desc and asc), over several pages', async () => {
    const rows = queryDb<{ honey_id: number; source_ip: string; called_number: string | null }>(d.dataDir, 'SELECT honey_id, source_ip, called_number FROM honey ORDER BY honey_id');
    assert.equal(rows.length, honeyCount);
    let pages = 0;
    for await (const p of api.pages('/api/v1/events', { limit: 2 })) {
      pages++;
      assert.ok(p.events.length <= 2);
    }
    // A full last page may be followed by one empty page (its cursor could not know there was nothing after it).
    assert.ok(pages >= Math.ceil(rows.length / 2) && pages <= Math.ceil(rows.length / 2) + 1, `${pages} pages of 2 for ${rows.length} rows`);
    const got: ItemOf<'/api/v1/events'>[] = [];
    for await (const e of api.items('/api/v1/events', { limit: 3 })) got.push(e);
    assert.deepEqual(got.map((e) => e.id).sort((a, b) => a - b), rows.map((r) => r.honey_id));
    assert.equal(new Set(got.map((e) => e.event_uuid)).size, got.length, 'no row twice');
    // Typed: always-sent fields are not optional (this line does not compile if they become optional again).
    const first: { id: number; source_ip: string; called_number: string | null } = got[0]!;
    assert.equal(typeof first.source_ip, 'string');
    const asc: number[] = [];
    for await (const e of api.items('/api/v1/events', { limit: 4, order: 'asc' })) asc.push(e.id);
    assert.deepEqual([...asc].sort((a, b) => a - b), rows.map((r) => r.honey_id));
    const byNumber: string[] = [];
    for await (const e of api.items('/api/v1/events', { number: '4711', limit: 1 })) byNumber.push(e.called_number ?? '');
    assert.deepEqual(byNumber, rows.filter((r) => r.called_number === '4711').map((r) => r.called_number));
  });

  test('ip-addresses, numbers, user-agents, credentials: iterators equal the aggregate tables', async () => {
    const ips: string[] = [];
    for await (const r of api.items('/api/v1/ip-addresses', { limit: 1 })) ips.push(r.ip);
    assert.deepEqual(ips.sort(), queryDb<{ ip: string }>(d.dataDir, 'SELECT ip FROM ip_stats ORDER BY ip').map((r) => r.ip));
    const nums: string[] = [];
    for await (const r of api.items('/api/v1/numbers', { limit: 2 })) nums.push(r.called_number);
    assert.deepEqual(nums.sort(), queryDb<{ n: string }>(d.dataDir, 'SELECT called_number AS n FROM number_stats ORDER BY called_number').map((r) => r.n));
    for (const n of NUMBERS) assert.ok(nums.some((x) => x === n || x.endsWith(n.replace(/^\+|^00/, ''))), `number ${n} listed`);
    const uas: string[] = [];
    for await (const r of api.items('/api/v1/user-agents', { limit: 1 })) uas.push(r.user_agent);
    assert.deepEqual(uas.sort(), queryDb<{ u: string }>(d.dataDir, 'SELECT user_agent AS u FROM user_agent_stats ORDER BY user_agent').map((r) => r.u));
    assert.ok(uas.some((u) => /sipsak/.test(u)) && uas.some((u) => /friendly-scanner|sipvicious/i.test(u)), uas.join(' | '));
    const creds: number[] = [];
    for await (const r of api.items('/api/v1/credentials', { limit: 1 })) {
      creds.push(r.id);
      assert.equal(r.username, '100');
    }
    assert.ok(creds.length >= 1, 'svcrack left credentials');
    assert.deepEqual(creds.sort((a, b) => a - b), queryDb<{ id: number }>(d.dataDir, 'SELECT credential_id AS id FROM credentials ORDER BY credential_id').map((r) => r.id));
  });

  test('sip-methods, stats, peers, check, blocklist, openapi.json answer typed bodies', async () => {
    const m = await api.get('/api/v1/sip-methods');
    assert.ok(m.sip_methods.some((x) => x.method === 'OPTIONS' && x.count > 0));
    const s: ResponseOf<'/api/v1/stats'> = await api.get('/api/v1/stats', { hours: 2 });
    assert.equal(s.totals.events_stored, honeyCount);
    assert.equal(s.series.length >= 2, true);
    const p = await api.get('/api/v1/peers');
    assert.deepEqual(p.peers, []);
    assert.equal(p.opendht, null);
    const c = await api.get('/api/v1/check', { ip: '127.0.0.1', number: '4711' });
    assert.equal(c.verdict, 'allow');
    assert.equal(c.ip?.address, '127.0.0.1');
    assert.ok((c.ip?.hits ?? 0) >= 1, JSON.stringify(c));
    assert.equal(c.number?.number, '4711');
    assert.equal(typeof c.number?.distinct_sources, 'number');
    const csv = await api.text('/api/v1/blocklist', { format: 'csv' });
    assert.equal(typeof csv, 'string');
    const doc = await api.get('/api/v1/openapi.json');
    assert.ok('paths' in doc);
    // The APIBAN-compatible feed through the raw typed client (path parameter; loopback is never listed → 400 end).
    const ban = await api.raw.GET('/api/{key}/banned', { params: { path: { key: TOKEN } } });
    assert.equal(ban.response.status, 400);
    assert.deepEqual(ban.error, { ipaddress: ['no new bans'], ID: 'none' });
  });

  test('SSE iterator over /api/v1/blocklist/stream yields the snapshot, then ends on abort', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const ev of api.stream('/api/v1/blocklist/stream', { signal: ac.signal })) {
      seen.push(ev.event);
      if (ev.event === 'snapshot') assert.equal(typeof (JSON.parse(ev.data) as { seq: number }).seq, 'number');
      if (ev.event === 'snapshot-end') {
        assert.match(ev.id ?? '', /^\d+$/);
        ac.abort();
      }
    }
    assert.equal(seen[0], 'snapshot');
    assert.equal(seen[seen.length - 1], 'snapshot-end');
  });

  test('typed errors: 400 names the parameter, 401 on a wrong token, unreachable names the URL', async () => {
    await assert.rejects(api.get('/api/v1/events', { source: 'not-an-ip' }), (e: unknown) => e instanceof ApiHttpError && e.status === 400 && /source/.test(e.message));
    const wrong = new SipwardenClient({ baseUrl: base, token: 'wrong' });
    await assert.rejects(wrong.get('/api/v1/stats'), (e: unknown) => e instanceof ApiHttpError && e.status === 401);
    await assert.rejects(wrong.stream('/api/v1/blocklist/stream').next(), (e: unknown) => e instanceof ApiHttpError && e.status === 401);
    const closed = await freePort();
    const down = new SipwardenClient({ baseUrl: `http://127.0.0.1:${closed}`, token: TOKEN });
    await assert.rejects(down.get('/api/v1/stats'), (e: unknown) => e instanceof ApiUnreachableError && e.message.includes(`127.0.0.1:${closed}`) && /ECONNREFUSED/.test(e.message));
  });

  test('the committed generated types equal what the served OpenAPI document generates', async () => {
    const res = await fetch(`${base}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const served = (await res.json()) as Record<string, unknown>;
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    assert.equal(await generateClientTypes(served), committed, 'src/client/schema.ts is stale: run `npm run gen:client`');
    // The comparison notices a change of the document (an always-sent field turning optional).
    const changed = structuredClone(served) as { paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: { required?: string[] } }> }> } }> };
    const schema = changed.paths['/api/v1/events']!.get.responses['200']!.content['application/json']!.schema;
    schema.required = (schema.required ?? []).filter((k) => k !== 'next_cursor');
    assert.notEqual(await generateClientTypes(changed as unknown as Record<string, unknown>), committed);
  });
});
