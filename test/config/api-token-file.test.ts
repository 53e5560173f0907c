/**
 * `--api-token-file` (issue 11, defect 9): tokens from a file (or SIPWARDEN_API_TOKEN), so they never appear in
 * the process list. Read errors name the path and the OS cause and exit 2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { runCli, startDaemon, type Daemon } from '../helpers/daemon.js';
import { http } from '../api/client.js';

let root: string;
const daemons: Daemon[] = [];
before(() => {
  root = mkdtempSync(join(tmpdir(), 'sw-tokenfile-'));
});
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

function cfg(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const o = loadConfig(argv, env, root, join(root, 'nohome'));
  assert.ok(o.kind === 'run' || o.kind === 'check');
  return o.config;
}
function errLine(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(argv, env, root, join(root, 'nohome'));
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.exitCode, 2);
    return `sipwarden: error: ${e.where}: ${e.reason}`;
  }
  return assert.fail('no error');
}
function file(name: string, text: string): string {
  const p = join(root, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

describe('--api-token-file', { timeout: 60_000 }, () => {
  test('tokens one per line (spaces, blank and # lines ignored), added to --api-token; flag, variable and TOML key', () => {
    const f = file('tokens', '# API tokens\n  alpha-1  \n\nbeta-2\r\n');
    assert.deepEqual(cfg(['--api-token-file', f]).apiTokens, ['alpha-1', 'beta-2']);
    assert.deepEqual(cfg(['--api-token', 'cli-0', '--api-token-file', f]).apiTokens, ['cli-0', 'alpha-1', 'beta-2']);
    assert.deepEqual(cfg([], { SIPWARDEN_API_TOKEN_FILE: f }).apiTokens, ['alpha-1', 'beta-2']);
    const toml = file('c.toml', `api_token_file = ${JSON.stringify(f)}\n`);
    const c = cfg(['-g', toml]);
    assert.deepEqual(c.apiTokens, ['alpha-1', 'beta-2']);
    assert.equal(c.apiTokenFile, f);
    // The variable that already existed for the token itself, comma-separated.
    assert.deepEqual(cfg([], { SIPWARDEN_API_TOKEN: 'e1,e2' }).apiTokens, ['e1', 'e2']);
    // A token from the file satisfies the non-loopback rule.
    assert.equal(cfg(['--api-listen', '0.0.0.0:8082', '--api-token-file', f]).apiTokens.length, 2);
  });

  test('read errors name the path and the OS cause; bad lines name file:line; an empty file is refused', () => {
    const missing = join(root, 'nope', 'token');
    assert.equal(errLine(['--api-token-file', missing]), `sipwarden: error: --api-token-file: cannot read ${missing}: ENOENT: no such file or directory`);
    const dir = join(root, 'adir');
    mkdirSync(dir, { recursive: true });
    assert.equal(errLine([], { SIPWARDEN_API_TOKEN_FILE: dir }), `sipwarden: error: SIPWARDEN_API_TOKEN_FILE: cannot read ${dir}: EISDIR: illegal operation on a directory`);
    const bad = file('bad', 'good\nhas space\n');
    assert.equal(errLine(['--api-token-file', bad]), `sipwarden: error: ${bad}:2: a token must not contain spaces or control characters`);
    const empty = file('empty', '# nothing\n\n');
    assert.equal(errLine(['--api-token-file', empty]), `sipwarden: error: --api-token-file: ${empty}: contains no token`);
    const big = file('big', 'x'.repeat(70_000));
    assert.match(errLine(['--api-token-file', big]), /larger than 65536 bytes$/);
  });

  test('the CLI exits 2 with one line; config check shows the path, never the tokens', async () => {
    const missing = join(root, 'missing-token');
    const r = await runCli(['--api-token-file', missing, '-a']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `sipwarden: error: --api-token-file: cannot read ${missing}: ENOENT: no such file or directory\n`);
    const f = file('ck', 'very-secret-token\n');
    const c = await runCli(['config', 'check', '--api-token-file', f]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^api_token_file = ${JSON.stringify(JSON.stringify(f)).slice(1, -1).replace(/[/.]/g, '\\$&')} # cli$`, 'm'));
    assert.match(c.stdout, /^# api_token = "<redacted>" # default$/m);
    assert.doesNotMatch(c.stdout + c.stderr, /very-secret-token/);
  });

  test('daemon: the token works and is not in the process command line', async () => {
    const f = file('daemon-token', 'proc-hidden-token\n');
    const d = await startDaemon(['-R', '-a', '--api-listen', '127.0.0.1:0', '--api-token-file', f], { expect: { http: 1 } });
    daemons.push(d);
    const cmdline = readFileSync(`/proc/${d.pid}/cmdline`, 'utf8');
    assert.ok(cmdline.includes('--api-token-file'));
    assert.ok(!cmdline.includes('proc-hidden-token'), 'token visible in the command line');
    const port = d.endpoint('http').port;
    assert.equal((await http(port, '/ip-addresses')).status, 401);
    assert.notEqual((await http(port, '/ip-addresses', { headers: { authorization: 'Bearer proc-hidden-token' } })).status, 401);
    assert.equal(await d.stop(), 0);
  });
});
