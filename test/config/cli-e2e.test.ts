/** The real binary (dist/main.js): the command-line contract usage lines, exit codes, stdout/stderr separation. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, cleanup } from '../helpers/daemon.js';
import { VERSION } from '../../src/version.js';

let dir: string;
let home: string;
/** Isolates the binary from the developer's own config file. */
let env: Record<string, string>;

before(() => {
  dir = tempDir('sipwarden-cli-');
  home = join(dir, 'home');
  mkdirSync(home);
  env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
});
after(() => cleanup(dir));

const opts = (): { env: Record<string, string>; cwd: string; timeoutMs: number } => ({ env, cwd: dir, timeoutMs: 20_000 });

describe('sipwarden CLI (real binary)', { timeout: 240_000 }, () => {
  test('config check -jar prints json_log, api, responsive from the command line', async () => {
    const r = await runCli(['config', 'check', '-jar'], opts());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    const keys = lines.map((l) => l.replace(/^# /, '').split(' ')[0]!);
    assert.deepEqual([...keys].sort(), keys);
    assert.ok(lines.includes('json_log = true # cli'), r.stdout);
    assert.ok(lines.includes('api = true # cli'));
    assert.ok(lines.includes('responsive = true # cli'));
    assert.ok(lines.includes('syslog = false # default'));
    assert.ok(lines.includes(`db_file = ${JSON.stringify(join(dir, 'sipwarden.db'))} # default`));
    // Validates without writing anything.
    assert.deepEqual(readdirSync(dir).sort(), ['home']);
  });

  test('config check shows env and file sources and redacts secrets', async () => {
    const f = join(dir, 'c.toml');
    writeFileSync(f, 'syslog = true\napi_token = ["hunter2"]\n');
    const r = await runCli(['config', 'check', '-g', f], { ...opts(), env: { ...env, SENTRYPEER_API: '0' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('syslog = true # file\n'));
    assert.ok(r.stdout.includes('api = false # env\n'));
    assert.ok(r.stdout.includes('# api_token = "<redacted>" # file\n'));
    assert.ok(!r.stdout.includes('hunter2'));
  });

  test('--bogus: exit 2, one stderr line, empty stdout', async () => {
    const r = await runCli(['--bogus'], opts());
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'sipwarden: error: --bogus: unknown option\n');
  });

  test('bad TOML key: exit 2 naming file:line', async () => {
    const f = join(dir, 'bad.toml');
    writeFileSync(f, 'api = true\nfoo = 1\n');
    const r = await runCli(['-g', f], opts());
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `sipwarden: error: ${f}:2: unknown key "foo"\n`);
  });

  test('bad environment value: exit 2 naming the variable', async () => {
    const r = await runCli([], { ...opts(), env: { ...env, SIPWARDEN_API_RATE_LIMIT: 'lots' } });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'sipwarden: error: SIPWARDEN_API_RATE_LIMIT: invalid number "lots" (expected an integer from 0 to 1000000)\n');
  });

  test('-V prints "sipwarden <version>" to stdout, exit 0', async () => {
    const r = await runCli(['-V'], opts());
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `sipwarden ${VERSION}\n`);
    assert.equal(r.stderr, '');
  });

  test('-h prints every flag to stdout, exit 0', async () => {
    const r = await runCli(['-h'], opts());
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    for (const f of ['-f, --db-file', '-l, --json-log-file', '-z, --tls-listen', '--api-listen', '--no-tls', '--max-message-bytes', '-N']) {
      assert.ok(r.stdout.includes(f), f);
    }
  });

  test('non-loopback API without a token: exit 2, nothing started', async () => {
    const r = await runCli(['-a', '--api-listen', '0.0.0.0:0', '--sip-listen', '127.0.0.1:0'], opts());
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'sipwarden: error: --api-listen: non-loopback address 0.0.0.0:0 requires --api-token or --api-allow-anonymous\n',
    );
  });

  test('-N warns with the exact line (config check)', async () => {
    const r = await runCli(['config', 'check', '-N'], opts());
    assert.equal(r.code, 0);
    assert.equal(r.stderr, 'sipwarden: warning: -N is ignored\n');
  });
});
