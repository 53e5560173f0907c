/**
 * The real binary at start: the summary (text and JSON), `-v` probe lines, no repeated keys in JSON lines,
 * SentryPeer's default config path and database, and the start-up errors that must name path and cause and stop
 * before anything listens.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, startDaemon, tempDir, cleanup, waitFor } from '../helpers/daemon.js';
import { freePort, sipRequest, udpExchange } from '../helpers/net.js';
import { SENTRYPEER_SCHEMA_SQL } from '../../src/store/schema.js';
import { VERSION } from '../../src/version.js';

let dir: string;
let home: string;
let env: Record<string, string>;

before(() => {
  dir = tempDir('sipwarden-startup-');
  home = join(dir, 'home');
  mkdirSync(home);
  env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
});
after(() => cleanup(dir));

/** Top-level keys of one JSON object line, in order, duplicates kept (JSON.parse would hide them). */
export function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

const LOCAL = ['--sip-listen', '127.0.0.1:0', '--no-tls'];

describe('start-up (real binary)', { timeout: 180_000 }, () => {
  test('topLevelKeys sees a repeated key', () => {
    assert.deepEqual(topLevelKeys('{"a":1,"component":"x","b":{"component":2},"component":"y"}'), ['a', 'component', 'b', 'component']);
  });

  test('text summary: version, node id, data dir, database, profile, listeners, API URL with token state, p2p', async () => {
    const d = await startDaemon([...LOCAL, '-r', '-a', '--api-listen', '127.0.0.1:0', '--api-token', 'sekrit-token-1'], {
      env,
      expect: { udp: 1, http: 1 },
    });
    try {
      await waitFor(() => d.stderr().includes('sipwarden: ready\n'), 20_000);
      const err = d.stderr();
      const nodeId = /sipwarden: sipwarden (\S+) starting, node id ([0-9a-f-]{36}), pid \d+\n/.exec(err);
      assert.ok(nodeId, err);
      assert.equal(nodeId[1], VERSION);
      assert.ok(err.includes(`sipwarden: data dir ${d.dataDir}\n`), err);
      assert.ok(err.includes(`sipwarden: database ${join(d.dataDir, 'sipwarden.db')}\n`), err);
      assert.ok(err.includes('sipwarden: profile freepbx (responsive)\n'), err);
      assert.ok(err.includes('sipwarden: config none'), err);
      const http = d.endpoint('http');
      assert.ok(err.includes(`sipwarden: api http://127.0.0.1:${http.port}/ token set (1)\n`), err);
      assert.ok(err.includes('sipwarden: p2p off'), err);
      assert.ok(!err.includes('sekrit-token-1'), 'the token is never printed');
      // The listening lines the helpers parse stay as they were, and come before "ready".
      assert.ok(err.indexOf('sipwarden: listening udp 127.0.0.1:') < err.indexOf('sipwarden: ready'), err);
    } finally {
      await d.stop();
    }
  });

  test('--log-format json -v -d: every stderr line is one JSON object without repeated keys; -v prints escaped probe lines', async () => {
    const d = await startDaemon([...LOCAL, '-r', '-v', '-d', '-N', '--log-format', 'json'], { env, expect: { udp: 1 } });
    try {
      const udp = d.endpoint('udp');
      await udpExchange('127.0.0.1', udp.port, sipRequest({ method: 'OPTIONS', user: '0046812118532', ua: 'evil\x1b[31m"agent' }), 300);
      await waitFor(() => d.stderr().includes('"msg":"probe"'), 20_000);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await d.stop();
    }
    const lines = d.stderr().split('\n').filter((l) => l !== '');
    const msgs = new Set<string>();
    let withComponent = 0;
    for (const l of lines) {
      assert.ok(l.startsWith('{'), `not JSON: ${l}`);
      const o = JSON.parse(l) as Record<string, unknown>;
      const keys = topLevelKeys(l);
      assert.equal(new Set(keys).size, keys.length, `repeated key in ${l}`);
      if ('component' in o) withComponent++;
      msgs.add(String(o.msg));
    }
    // Regression: the store's and the API's lines carried "component" twice.
    assert.ok(lines.some((l) => l.includes('"component":"store"')), d.stderr());
    assert.ok(withComponent > 3);
    assert.ok(msgs.has('-N is ignored'), 'warnings are JSON lines too');
    for (const m of ['starting', 'data dir', 'database', 'profile', 'listening', 'api', 'p2p', 'ready', 'probe']) assert.ok(msgs.has(m), m);
    const probe = JSON.parse(lines.find((l) => l.includes('"msg":"probe"'))!) as Record<string, unknown>;
    assert.equal(probe.method, 'OPTIONS');
    assert.equal(probe.calledNumber, '0046812118532');
    assert.equal(probe.transport, 'UDP');
    assert.equal(probe.sourceIp, '127.0.0.1');
    assert.equal(probe.userAgent, 'evil\\x1b[31m"agent');
  });

  test('-v text probe line: time, transport, source, method, number, escaped user agent', async () => {
    const d = await startDaemon([...LOCAL, '-v'], { env, expect: { udp: 1 } });
    try {
      const udp = d.endpoint('udp');
      await udpExchange('127.0.0.1', udp.port, sipRequest({ method: 'INVITE', user: '0046812118532', ua: 'x\x1b]0;pwn\x07\u0085y' }), 300);
      const line = await waitFor(() => d.stderr().split('\n').find((l) => l.startsWith('sipwarden: probe ')), 20_000);
      assert.match(line, /^sipwarden: probe \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ UDP 127\.0\.0\.1:\d+ INVITE 0046812118532 "x\\x1b\]0;pwn\\x07.*y"$/);
      assert.ok(!d.stderr().includes('\x1b'), 'no terminal escape reaches stderr');
    } finally {
      await d.stop();
    }
  });

  test("SentryPeer's default config file is read and named (regression: config check showed config = null)", async () => {
    const spHome = join(dir, 'sphome');
    mkdirSync(join(spHome, '.config', 'sentrypeer'), { recursive: true });
    const spFile = join(spHome, '.config', 'sentrypeer', 'default-config.toml');
    writeFileSync(spFile, 'tls_listen_address = "127.0.0.1:5071"\ncert = "cert.pem"\nkey = "key.pem"\n');
    const r = await runCli(['config', 'check'], { env: { HOME: spHome, XDG_CONFIG_HOME: '' }, cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`# config = ${JSON.stringify(spFile)} # default\n`), r.stdout);
    assert.ok(r.stdout.includes('tls_listen = ["127.0.0.1:5071"] # file\n'), r.stdout);
    assert.match(r.stderr, /^sipwarden: warning: .*cert\.pem not found; using the data directory's TLS certificate\n$/);
  });

  test('an unreadable default config path is skipped with a warning; a missing one silently', async () => {
    const h = join(dir, 'home-unreadable');
    mkdirSync(join(h, '.config', 'sipwarden', 'config.toml'), { recursive: true });
    const r = await runCli(['config', 'check'], { env: { HOME: h, XDG_CONFIG_HOME: '' }, cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `sipwarden: warning: skipping default config ${join(h, '.config', 'sipwarden', 'config.toml')}: is a directory\n`);
    const m = await runCli(['config', 'check'], { env, cwd: dir, timeoutMs: 30_000 });
    assert.equal(m.stderr, '');
  });

  test('config check output → file → -g file config check gives the same configuration', async () => {
    const args = ['config', 'check', '-ja', '--sip-listen', '127.0.0.1:5999', '--retention-days', '3', '--log-format', 'json', '--no-tls'];
    const a = await runCli(args, { env, cwd: dir, timeoutMs: 30_000 });
    assert.equal(a.code, 0, a.stderr);
    const f = join(dir, 'roundtrip.toml');
    writeFileSync(f, a.stdout);
    const b = await runCli(['-g', f, 'config', 'check'], { env, cwd: dir, timeoutMs: 30_000 });
    assert.equal(b.code, 0, b.stderr);
    // Same values; only the sources (cli/default → file) and the config line differ.
    const values = (out: string): string[] =>
      out
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('# config ='))
        .map((l) => l.replace(/ # (default|file|env|cli)( \(TLS is off\))?$/, ''));
    assert.deepEqual(values(b.stdout), values(a.stdout));
  });

  test('./sentrypeer.db in the working directory is used, migrated with a backup, and the summary says so', async () => {
    const cwd = join(dir, 'spcwd');
    mkdirSync(cwd);
    const spDb = join(cwd, 'sentrypeer.db');
    const db = new Database(spDb);
    db.exec(SENTRYPEER_SCHEMA_SQL);
    db.prepare("INSERT INTO honey (event_timestamp, event_uuid, source_ip, method) VALUES ('2026-01-01 00:00:00', 'u1', '192.0.2.7', 'OPTIONS')").run();
    db.close();
    const d = await startDaemon(LOCAL, { env, cwd, noDataDir: true, expect: { udp: 1 } });
    try {
      await waitFor(() => d.stderr().includes('sipwarden: ready\n'), 20_000);
      const err = d.stderr();
      assert.match(err, new RegExp(`sipwarden: database ${spDb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(SentryPeer's database: no sipwarden\\.db here, so this one is used, migrated in place, backup \\S+\\.bak\\)\n`));
      assert.equal(existsSync(join(cwd, 'sipwarden.db')), false);
      assert.equal(readdirSync(cwd).filter((f) => /^sentrypeer\.db\.pre-sipwarden-.*\.bak$/.test(f)).length, 1);
    } finally {
      await d.stop();
    }
  });
});

describe('start-up errors (real binary)', { timeout: 180_000 }, () => {
  const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runCli(args, { env, cwd: dir, timeoutMs: 30_000 });

  test('-l FILE that cannot be opened: exit 2 with the path and the OS cause, nothing listens', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const r = await run([...LOCAL, '--data-dir', join(dir, 'd-l'), '-l', join(blocker, 'x.log')]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `sipwarden: error: --json-log-file ${join(blocker, 'x.log')}: cannot open for appending: ENOTDIR: not a directory\n`);
  });

  test('--syslog-target that does not exist: exit 2 with the path and the cause', async () => {
    const sock = join(dir, 'no-such-socket');
    const r = await run([...LOCAL, '--data-dir', join(dir, 'd-s'), '-s', '--syslog-target', sock]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `sipwarden: error: --syslog-target ${sock}: cannot open: ENOENT: no such file or directory\n`);
  });

  test('non-PEM -t/-k: exit 2 before anything listens (regression: udp/tcp listened first, then exit 1)', async () => {
    const c = join(dir, 'bad-cert.pem');
    const k = join(dir, 'bad-key.pem');
    writeFileSync(c, 'not a certificate\n');
    writeFileSync(k, 'not a key\n');
    const r = await run(['--sip-listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0', '-t', c, '-k', k, '--data-dir', join(dir, 'd-t')]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(!r.stderr.includes('listening'), r.stderr);
    assert.match(r.stderr, new RegExp(`^sipwarden: error: --cert/--key: ${c} with ${k}: not a usable PEM certificate and key \\(.+\\)\n$`));
  });

  test('TLS port in use: one clean error line, no JSON warning with a stack', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
    try {
      const r = await run(['--sip-listen', '127.0.0.1:0', '--tls-listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'd-p')]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.ok(!lines.some((l) => l.startsWith('{')), r.stderr);
      assert.deepEqual(
        lines.filter((l) => l.startsWith('sipwarden: error:')),
        [`sipwarden: error: cannot listen tls 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`],
      );
    } finally {
      holder.close();
    }
  });

  test('a database that cannot be opened names the path and the OS cause (was: "unable to open database file")', async () => {
    const r = await run([...LOCAL, '--data-dir', join(dir, 'd-db'), '-f', '/proc/sipwarden-test.db']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sipwarden: error: .*\/proc\/sipwarden-test\.db.*\(ENOENT: no such file or directory\)\n$/);
  });

  test('a data dir that cannot be created names --data-dir, the path and the cause', async () => {
    const blocker = join(dir, 'b-file');
    writeFileSync(blocker, '');
    const r = await run([...LOCAL, '--data-dir', join(blocker, 'sub')]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `sipwarden: error: --data-dir: ${join(blocker, 'sub')}: ENOTDIR: not a directory\n`);
  });
});
