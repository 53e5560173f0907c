/**
 * The API inside the real daemon (dist/main.js): a real sipsak probe appears in /ip-addresses and /api/v1/events;
 * a non-loopback --api-listen without a token refuses to start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cleanup, runCli, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { freePort, runTool } from '../helpers/net.js';
import { http } from './client.js';

function sipsak(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = execFile('sipsak', args, { timeout: 10_000 }, () => undefined);
    p.on('exit', (code) => resolve(code));
  });
}

describe('API in the running daemon', { timeout: 90_000 }, () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon(
      ['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-listen', '[::1]:0', '--sip-listen', '127.0.0.1:0', '--no-tls', '--api-token', 'e2e-token'],
      { expect: { udp: 1, http: 2 } },
    );
  });
  after(async () => {
    await d?.stop();
    if (d) cleanup(d.dataDir);
  });

  test('a sipsak OPTIONS probe is listed by /ip-addresses and /api/v1/events', async () => {
    const udp = d.endpoint('udp', 4);
    const api = d.endpoint('http', 4);
    const auth = { authorization: 'Bearer e2e-token' };
    const code = await sipsak(['-s', `sip:100@127.0.0.1:${udp.port}`]);
    assert.equal(code, 0, 'sipsak got a 200');
    const listed = await waitFor(async () => {
      const r = await http(api.port, '/ip-addresses', { headers: auth });
      return r.status === 200 ? r : null;
    }, 5000);
    const body = JSON.parse(listed.body) as { ip_addresses_total: number; ip_addresses: { ip_address: string; seen_count: string }[] };
    assert.equal(body.ip_addresses_total, 1);
    assert.equal(body.ip_addresses[0]!.ip_address, '127.0.0.1');
    assert.equal(body.ip_addresses[0]!.seen_count, '1');
    const found = await http(api.port, '/ip-addresses/127.0.0.1', { headers: auth });
    assert.equal(found.body, '{\n  "bad_actor_found": "127.0.0.1"\n}');
    const ev = await http(api.port, '/api/v1/events?method=OPTIONS', { headers: auth });
    const events = (JSON.parse(ev.body) as { events: { source_ip: string; user_agent: string; transport: string }[] }).events;
    assert.equal(events.length, 1);
    assert.equal(events[0]!.transport, 'UDP');
    assert.match(events[0]!.user_agent, /sipsak/);
    // IPv6 listener serves the same data; the token is still required.
    const v6 = d.endpoint('http', 6);
    assert.equal((await http(v6.port, '/ip-addresses', { host: '::1' })).status, 401);
    assert.equal((await http(v6.port, '/ip-addresses', { host: '::1', headers: auth })).status, 200);
  });

  // Regression: after the README's local scans the nftables export listed 127.0.0.1 for 7 days, and loading it
  // locked the host out of its own API. Loopback is stored (evidence) but never exported or blocked.
  test("after the README's local scans, no export lists 127.0.0.1; the record is kept, counted and checkable", async () => {
    const udp = d.endpoint('udp', 4);
    const api = d.endpoint('http', 4);
    const auth = { authorization: 'Bearer e2e-token' };
    assert.equal(await sipsak(['-vv', '-s', `sip:100@127.0.0.1:${udp.port}`]), 0);
    await runTool('svmap', ['-P', String(await freePort()), `-p${udp.port}`, '127.0.0.1'], 40_000);
    await runTool('svmap', ['-P', String(await freePort()), `-p${udp.port}`, '-m', 'INVITE', '-e', '0046812118532', '127.0.0.1'], 40_000);
    await waitFor(async () => {
      const r = await http(api.port, '/api/v1/events?method=INVITE', { headers: auth });
      return r.status === 200 && r.body.includes('0046812118532') ? r : null;
    }, 5000);
    const listed = await http(api.port, '/ip-addresses', { headers: auth });
    assert.match(listed.body, /"ip_address": "127\.0\.0\.1"/, 'still stored and listed as a sighting');
    for (const format of ['nftables', 'plain', 'ipset', 'csv', 'jsonl', 'json']) {
      const r = await http(api.port, `/api/v1/blocklist?format=${format}`, { headers: auth });
      assert.equal(r.status, 200, format);
      assert.ok(!r.body.includes('127.0.0.1'), `${format} export lists 127.0.0.1:\n${r.body.slice(0, 400)}`);
    }
    const nft = await http(api.port, '/api/v1/blocklist?format=nftables', { headers: auth });
    assert.match(nft.body, /table inet sipwarden/, 'a real nftables script, just without loopback');
    const ipset = await http(api.port, '/ip-addresses/ipset', { headers: auth });
    assert.equal(ipset.body, '');
    const ban = await http(api.port, '/api/e2e-token/banned');
    assert.equal(ban.status, 400, 'APIBAN: no bans');
    const check = JSON.parse((await http(api.port, '/api/v1/check?ip=127.0.0.1', { headers: auth })).body) as { verdict: string; reasons: string[] };
    assert.deepEqual(check, { ...check, verdict: 'allow', reasons: ['ip:excluded:loopback'] });
    const metrics = await http(api.port, '/metrics', { headers: auth });
    const m = /sipwarden_block_excluded_total\{reason="loopback"\} (\d+)/.exec(metrics.body);
    assert.ok(m && Number(m[1]) >= 3, 'records naming loopback are counted');
  });
});

test('non-loopback --api-listen without --api-token or --api-allow-anonymous exits 2', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  try {
    const r = await runCli(['-a', '--api-listen', '0.0.0.0:0', '--sip-listen', '127.0.0.1:0', '--no-tls', '--data-dir', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^sipwarden: error: --api-listen: .+\n$/);
  } finally {
    cleanup(dir);
  }
});
