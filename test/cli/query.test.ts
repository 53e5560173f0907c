/**
 * `sipwarden query` (the built CLI) against a live node with real sipsak probes: `--json` equals the API's JSON
 * for each subcommand, `--jsonl` rows, aligned tables, token from the environment, one-line errors with their exit
 * codes (bad flag, API down, wrong token).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cell, parseTimeArg, relativeTime, table } from '../../src/cli/query.js';
import { cleanup, runCli, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { freePort, queryDb, runTool } from '../helpers/net.js';

const TOKEN = 'query-cli-token';

describe('sipwarden query against a live node', { timeout: 240_000 }, () => {
  let d: Daemon;
  let base: string;
  const apiJson = async (path: string): Promise<unknown> => {
    const r = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, path);
    return r.json();
  };
  const q = (args: string[], env: Record<string, string> = {}) => runCli(['query', ...args], { timeoutMs: 60_000, env: { SIPWARDEN_API_TOKEN: '', ...env } });
  const auth = ['--api', '', '--api-token', TOKEN];

  before(async () => {
    d = await startDaemon(['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-token', TOKEN, '--sip-listen', '127.0.0.1:0'], { expect: { udp: 1, tcp: 1, http: 1 } });
    base = `http://127.0.0.1:${d.endpoint('http').port}`;
    auth[1] = base;
    const sip = d.endpoint('udp').port;
    for (const n of ['4711', '+441234567', '100']) await runTool('sipsak', ['-s', `sip:${n}@127.0.0.1:${sip}`], 20_000);
    await runTool('sipsak', ['-E', 'tcp', '-s', `sip:4712@127.0.0.1:${sip}`], 20_000);
    await runTool('svcrack', ['-P', String(await freePort()), '-p', String(sip), '-u', '100', '-r', '1000-1001', '127.0.0.1'], 60_000);
    await waitFor(() => queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM credentials')[0]!.n >= 1, 30_000, 100);
    // The row count is stable before the tests compare the CLI with the API.
    let last = -1;
    await waitFor(() => {
      const n = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
      const still = n === last && n >= 4;
      last = n;
      return still;
    }, 30_000, 1000);
  });
  after(async () => {
    const code = await d.stop();
    assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr()}`);
    cleanup(d.dataDir);
  });

  test('--json equals the API\'s JSON for each subcommand', async () => {
    const cases: [string[], string][] = [
      [['ips'], '/api/v1/ip-addresses'],
      [['numbers'], '/api/v1/numbers'],
      [['events'], '/api/v1/events'],
      [['credentials'], '/api/v1/credentials'],
      [['events', '--number', '4711', '--transport', 'UDP'], '/api/v1/events?number=4711&transport=UDP'],
      [['ips', '--limit', '1', '--verified'], '/api/v1/ip-addresses?limit=1&verified=true'],
      [['check', '--ip', '127.0.0.1', '--number', '4711'], '/api/v1/check?ip=127.0.0.1&number=4711'],
      [['check', '127.0.0.1'], '/api/v1/check?ip=127.0.0.1'],
    ];
    for (const [args, path] of cases) {
      const r = await q([...args, '--json', ...auth]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), await apiJson(path), args.join(' '));
    }
    const events = (await apiJson('/api/v1/events')) as { events: { id: number }[] };
    assert.ok(events.events.length >= 4);
  });

  test('--jsonl prints one API row per line; --since filters', async () => {
    const r = await q(['events', '--jsonl', '--limit', '2', ...auth]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number });
    const api = (await apiJson('/api/v1/events?limit=2')) as { events: { id: number }[] };
    assert.deepEqual(lines, api.events);
    // --limit rows that fill the first page: no request for a second page (regression: it used to fetch one more).
    const eventRequests = async (): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      const m = /^sipwarden_api_requests_total\{route="\/api\/v1\/events",status="200"\} (\d+)$/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await eventRequests();
    const two = await q(['events', '--jsonl', '--limit', '2', ...auth]);
    assert.equal(two.stdout.trim().split('\n').length, 2);
    assert.equal(await eventRequests(), before + 1, 'one request for two rows');
    const future = await q(['events', '--jsonl', '--since', '2999-01-01', ...auth]);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, '');
    const recent = await q(['ips', '--json', '--since', '1h', ...auth]);
    assert.equal((JSON.parse(recent.stdout) as { ip_addresses: unknown[] }).ip_addresses.length, 1);
  });

  test('tables: aligned columns, relative times, countries column; token from SIPWARDEN_API_TOKEN', async () => {
    const r = await q(['ips', '--api', base], { SIPWARDEN_API_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.split('\n') as [string, string];
    assert.match(header, /^IP +CC +ASN +EVENTS +VERIFIED +FIRST SEEN +LAST SEEN +METHODS +ORG$/);
    assert.equal(row.indexOf('127.0.0.1'), 0);
    assert.equal(row.slice(header.indexOf('CC'), header.indexOf('CC') + 2), '- ');
    assert.match(row.slice(header.indexOf('VERIFIED')), /^yes +/);
    assert.match(row.slice(header.indexOf('FIRST SEEN')), /^(just now|\d+ (s|min) ago) /);
    const eventsEnd = header.indexOf('EVENTS') + 'EVENTS'.length;
    const total = ((await apiJson('/api/v1/ip-addresses')) as { ip_addresses: { count: number }[] }).ip_addresses[0]!.count;
    assert.match(row.slice(0, eventsEnd), new RegExp(` ${total}$`), 'EVENTS right-aligned under its header');

    const ev = await q(['events', '--user-agent', 'sipsak', ...auth]);
    assert.equal(ev.code, 0, ev.stderr);
    const lines = ev.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1 + 4);
    const h = lines[0]!;
    for (const col of ['SOURCE', 'CC', 'TRANSPORT', 'METHOD', 'NUMBER', 'USER AGENT']) {
      const at = h.indexOf(col);
      for (const l of lines.slice(1)) {
        assert.notEqual(l[at], ' ', `column ${col} starts at ${at} in ${JSON.stringify(l)}`);
        assert.equal(l[at - 1], ' ', `column ${col} is preceded by a space in ${JSON.stringify(l)}`);
      }
    }
    assert.ok(lines.slice(1).every((l) => /sipsak/.test(l) && /OPTIONS/.test(l)));

    const creds = await q(['credentials', ...auth]);
    assert.equal(creds.code, 0, creds.stderr);
    assert.match(creds.stdout, /^TIME +SOURCE +USERNAME +REALM +ALGORITHM +PASSWORD +USER AGENT$/m);
    assert.match(creds.stdout, /^\S.* 100 +\S+ +MD5 +\*\*\*\* +friendly-scanner$/m);
    assert.doesNotMatch(creds.stdout, / 100[01] /, 'passwords masked');
    const shown = await q(['credentials', '--show-passwords', ...auth]);
    assert.match(shown.stdout, / MD5 +100[01] +friendly-scanner$/m);

    const check = await q(['check', '--ip', '127.0.0.1', ...auth]);
    assert.match(check.stdout, /^verdict +allow$/m);
    assert.match(check.stdout, /^ {2}excluded +loopback$/m);
  });

  test('errors: one line and exit 2 for a bad flag or time; SW_API_UNREACHABLE for an API that is down; 401 → exit 1', async () => {
    for (const args of [['ips', '--bogus'], ['ips', '--since', 'yesterday'], ['frobnicate'], ['ips', '--username', 'x'], ['check'], ['ips', '--api', 'ftp://x']]) {
      const r = await q(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^sipwarden: error: /);
    }
    const closed = await freePort();
    const down = await q(['ips', '--api', `http://127.0.0.1:${closed}`, '--api-token', TOKEN]);
    assert.equal(down.code, 2);
    assert.equal(down.stdout, '');
    assert.equal(down.stderr, `sipwarden: error: SW_API_UNREACHABLE: cannot reach the API at http://127.0.0.1:${closed} (ECONNREFUSED)\n`);
    const wrong = await q(['ips', '--api', base, '--api-token', 'nope']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^sipwarden: error: SW_API_REQUEST_FAILED: .* answered 401: Unauthorized\n$/);
    const help = await q(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: sipwarden query ips\|numbers\|events\|credentials\|check/);
  });

  test('the API address and token can come from the node\'s config file', async () => {
    const dir = tempDir('sw-query-conf-');
    try {
      const file = join(dir, 'sipwarden.toml');
      writeFileSync(file, `api_listen = ["127.0.0.1:${d.endpoint('http').port}"]\napi_token = ["${TOKEN}"]\n`);
      const r = await q(['numbers', '--json', '--config', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), await apiJson('/api/v1/numbers'));
    } finally {
      cleanup(dir);
    }
  });
});

test('cells escape control and bidi characters; relative times; table alignment (pure)', () => {
  assert.equal(cell('a\x1b[31mb\u202ec'), 'a\\u001b[31mb\\u202ec');
  assert.equal(cell(null), '-');
  assert.equal(cell('x'.repeat(50), 10), `${'x'.repeat(9)}…`);
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(relativeTime('2026-01-01T11:57:00Z', now), '3 min ago');
  assert.equal(relativeTime('2026-01-01T11:59:58Z', now), 'just now');
  assert.equal(relativeTime('2025-12-29T12:00:00Z', now), '3 d ago');
  assert.equal(relativeTime('2026-01-01T14:00:00Z', now), 'in 2 h');
  assert.equal(table(['A', 'NUM'], [['xyz', '5'], ['q', '123']], new Set([1])), 'A    NUM\nxyz    5\nq    123\n');
  assert.equal(parseTimeArg('15m', '--since', now), '2026-01-01T11:45:00.000Z');
  assert.equal(parseTimeArg('2026-01-01', '--since', now), '2026-01-01T00:00:00Z');
  assert.throws(() => parseTimeArg('2026-13-45T00:00:00Z', '--since', now), /invalid time/);
});
