/**
 * `npm run package:deb` builds a Debian package that installs cleanly by Debian's rules (lintian: no errors; every
 * warning it gives is listed in docs/INSTALL.md) and that works: the unpacked tree runs `sipwarden -V` and records
 * a sipsak probe in its database.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, cleanup, tempDir } from '../helpers/daemon.js';
import { freePort, queryDb, runTool } from '../helpers/net.js';
import { sh, startCommand, waitFor } from './util.js';

const dir = tempDir('sipwarden-deb-');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
let deb = '';

after(() => cleanup(dir));

describe('Debian package', { timeout: 1_100_000 }, () => {
  before(() => {
    const t0 = Date.now();
    // timeout(1) signals the whole process group, so nothing outlives a stuck build.
    const out = sh('timeout', ['-k', '10', '600', process.execPath, join(ROOT, 'scripts', 'package-deb.mjs'), '--out', join(dir, 'out')], { timeoutMs: 620_000 });
    deb = out.trim().split('\n').filter((l) => l.endsWith('.deb')).pop() ?? '';
    process.stderr.write(`# package-deb took ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  });

  test('file name, control fields and dependencies', () => {
    assert.equal(deb, join(dir, 'out', `sipwarden_${pkg.version}_${arch}.deb`));
    const field = (f: string): string => sh('dpkg-deb', ['-f', deb, f]).trim();
    assert.equal(field('Package'), 'sipwarden');
    assert.equal(field('Version'), pkg.version);
    assert.equal(field('Architecture'), arch);
    // Node 20 exactly: the native addons are built for its ABI.
    assert.match(field('Depends'), /^nodejs \(>= 20\.18\), nodejs \(<< 21\), adduser\b/);
    assert.match(field('Maintainer'), /^.+ <[^@\s]+@[^@\s]+>$/);
    assert.ok(Number(field('Installed-Size')) > 10_000);
  });

  test('contents: app, production modules only, units, conffiles, maintainer scripts', () => {
    const list = sh('dpkg-deb', ['-c', deb], { timeoutMs: 120_000 });
    const paths = list.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).filter(Boolean);
    const has = (p: string): boolean => paths.some((x) => x === p || x.startsWith(`${p} `));
    for (const p of [
      './usr/lib/sipwarden/dist/main.js', './usr/lib/sipwarden/bin/sipwarden', './usr/lib/sipwarden/package.json',
      './usr/lib/sipwarden/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      './usr/lib/sipwarden/node_modules/unix-dgram/build/Release/unix_dgram.node',
      './lib/systemd/system/sipwarden.service', './lib/systemd/system/sipwarden@.service',
      './etc/sipwarden/config.toml', './etc/default/sipwarden', './etc/logrotate.d/sipwarden',
      './etc/fail2ban/filter.d/sipwarden.conf', './etc/fail2ban/jail.d/sipwarden.conf',
      './usr/share/doc/sipwarden/copyright', './usr/share/doc/sipwarden/changelog.gz', './usr/share/doc/sipwarden/INSTALL.md',
    ]) assert.ok(has(p), `missing ${p}`);
    assert.ok(paths.includes('./usr/bin/sipwarden -> ../lib/sipwarden/bin/sipwarden'), 'usr/bin/sipwarden symlink');
    for (const dev of ['typescript', 'tsx', 'fast-check', 'autocannon', '@types', 'esbuild']) {
      assert.ok(!paths.some((p) => p.startsWith(`./usr/lib/sipwarden/node_modules/${dev}/`)), `dev dependency ${dev} shipped`);
    }
    assert.ok(!paths.some((p) => /^\.\/usr\/lib\/sipwarden\/(src|test|bench)\//.test(p)), 'sources or tests shipped');
    assert.ok(!paths.some((p) => p.includes('better-sqlite3/deps/')), 'sqlite sources shipped');

    const ctrl = join(dir, 'DEBIAN');
    sh('dpkg-deb', ['-e', deb, ctrl]);
    assert.deepEqual(readFileSync(join(ctrl, 'conffiles'), 'utf8').trim().split('\n').sort(), [
      '/etc/default/sipwarden', '/etc/fail2ban/filter.d/sipwarden.conf', '/etc/fail2ban/jail.d/sipwarden.conf',
      '/etc/logrotate.d/sipwarden', '/etc/sipwarden/config.toml',
    ]);
    for (const s of ['postinst', 'postrm']) {
      sh('sh', ['-n', join(ctrl, s)]);
      const text = readFileSync(join(ctrl, s), 'utf8');
      // Never starts or enables a service on its own.
      assert.doesNotMatch(text, /systemctl\s+(start|enable|restart)|deb-systemd-invoke|invoke-rc\.d/);
    }
    assert.match(readFileSync(join(ctrl, 'postinst'), 'utf8'), /adduser --system .* sipwarden/);
    assert.ok(readdirSync(ctrl).includes('md5sums'));
  });

  test('lintian: no errors; each warning is listed in docs/INSTALL.md', async () => {
    const r = await runTool('timeout', ['-k', '10', '480', 'lintian', '--tag-display-limit', '0', deb], 500_000);
    assert.ok(!r.timedOut && r.code !== 124, 'lintian timed out');
    const lines = (r.stdout + r.stderr).split('\n');
    const errors = lines.filter((l) => /^E: /.test(l));
    assert.deepEqual(errors, [], r.stdout);
    const warned = new Set(lines.map((l) => /^W: sipwarden: (\S+)/.exec(l)?.[1]).filter((x): x is string => !!x));
    const docs = readFileSync(join(ROOT, 'docs', 'INSTALL.md'), 'utf8');
    const unlisted = [...warned].filter((tag) => !docs.includes(`\`${tag}\``));
    assert.deepEqual(unlisted, [], `lintian warnings not listed in docs/INSTALL.md:\n${lines.filter((l) => l.startsWith('W: ')).join('\n')}`);
  });

  test('the unpacked tree runs: sipwarden -V, then a sipsak probe is stored', async () => {
    const root = join(dir, 'root');
    mkdirSync(root);
    sh('dpkg-deb', ['-x', deb, root], { timeoutMs: 300_000 });
    const bin = join(root, 'usr', 'bin', 'sipwarden');
    assert.equal(readlinkSync(bin), '../lib/sipwarden/bin/sipwarden');
    assert.equal(sh(bin, ['-V']).trim(), `sipwarden ${pkg.version}`);
    // The shipped default configuration is accepted as it is.
    sh(bin, ['config', 'check', '-g', join(root, 'etc', 'sipwarden', 'config.toml')]);

    const data = join(dir, 'data');
    const port = await freePort();
    const d = await startCommand(bin, ['-r', '--sip-listen', `127.0.0.1:${port}`, '--no-tls', '--data-dir', data], {
      env: { ...process.env, HOME: dir }, expect: { udp: 1 }, timeoutMs: 60_000,
    });
    try {
      const lp = await freePort();
      const r = await runTool('sipsak', ['-vv', '-s', `sip:100@127.0.0.1:${port}`, '-l', String(lp)], 20_000);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /SIP\/2\.0 200 OK/);
      const rows = await waitFor(() => {
        if (!existsSync(join(data, 'sipwarden.db'))) return null;
        const x = queryDb<{ method: string; user_agent: string }>(data, "SELECT method, user_agent FROM honey WHERE user_agent LIKE 'sipsak%'");
        return x.length ? x : null;
      }, 10_000, 'the probe row');
      assert.equal(rows[0]!.method, 'OPTIONS');
    } finally {
      await d.stop();
    }
  });
});
