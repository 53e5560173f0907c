/**
 * The shipped systemd units: `systemd-analyze verify` accepts them and `systemd-analyze security --offline`
 * rates their exposure at most 3.0 (docs/INSTALL.md states the figure), with the firewall drop-in adding
 * CAP_NET_ADMIN and nothing else. The units name /usr/bin/sipwarden, which verify wants to exist; the test uses
 * copies whose ExecStart points at a binary that exists here, and the shipped text otherwise unchanged.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT, cleanup, tempDir } from '../helpers/daemon.js';

const UNITS = join(ROOT, 'deploy', 'systemd');
const dir = tempDir('sipwarden-systemd-');
after(() => cleanup(dir));

function analyze(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('systemd-analyze', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Copies a shipped unit under `name` with ExecStart's binary replaced by one that exists. */
function stage(unit: string, name = unit): string {
  const text = readFileSync(join(UNITS, unit), 'utf8');
  assert.match(text, /^ExecStart=\/usr\/bin\/sipwarden /m);
  writeFileSync(join(dir, name), text.replace(/^ExecStart=\/usr\/bin\/sipwarden /m, `ExecStart=${process.execPath} `));
  return `./${name}`;
}

function exposure(out: string): number {
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(out);
  assert.ok(m, out);
  return Number(m[1]);
}

describe('systemd units', { timeout: 120_000 }, () => {
  test('sipwarden.service: verify is clean, exposure <= 3.0, the hardening the docs promise', () => {
    const u = stage('sipwarden.service');
    const v = analyze(['verify', u]);
    assert.equal(v.code, 0, v.out);
    assert.equal(v.out.trim(), '', `verify printed warnings:\n${v.out}`);
    const s = analyze(['security', '--offline=true', u]);
    const level = exposure(s.out);
    assert.ok(level <= 3.0, `exposure ${level}\n${s.out}`);
    assert.match(s.out, /✓ CapabilityBoundingSet=~CAP_NET_ADMIN/);
    assert.match(s.out, /✓ CapabilityBoundingSet=~CAP_SYS_ADMIN/);
    const text = readFileSync(join(UNITS, 'sipwarden.service'), 'utf8');
    for (const line of [
      'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'DynamicUser=yes',
      'StateDirectory=sipwarden', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'Restart=on-failure',
      'ExecReload=/bin/kill -HUP $MAINPID', 'SystemCallFilter=@system-service', 'SystemCallArchitectures=native',
    ]) assert.ok(text.split('\n').includes(line), `missing ${line}`);
    assert.match(text, /^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$/m);
    assert.doesNotMatch(text, /NET_ADMIN/);
  });

  test('sipwarden@.service: an instance verifies, has its own state, log and config, same exposure', () => {
    const u = stage('sipwarden@.service', 'sipwarden@edge1.service');
    const v = analyze(['verify', u]);
    assert.equal(v.code, 0, v.out);
    assert.equal(v.out.trim(), '', `verify printed warnings:\n${v.out}`);
    const level = exposure(analyze(['security', '--offline=true', u]).out);
    assert.ok(level <= 3.0, `exposure ${level}`);
    const text = readFileSync(join(UNITS, 'sipwarden@.service'), 'utf8');
    assert.match(text, /^StateDirectory=sipwarden\/%i$/m);
    assert.match(text, /^LogsDirectory=sipwarden\/%i$/m);
    assert.match(text, /^ExecStart=\S+ --config \/etc\/sipwarden\/%i\.toml --data-dir \/var\/lib\/sipwarden\/%i /m);
  });

  test('firewall drop-in: adds CAP_NET_ADMIN only, still verifies, exposure <= 3.0', () => {
    const u = stage('sipwarden.service', 'sipwarden-fw.service');
    mkdirSync(join(dir, 'sipwarden-fw.service.d'), { recursive: true });
    copyFileSync(join(UNITS, 'firewall.conf'), join(dir, 'sipwarden-fw.service.d', 'firewall.conf'));
    const v = analyze(['verify', u]);
    assert.equal(v.code, 0, v.out);
    assert.equal(v.out.trim(), '', v.out);
    const s = analyze(['security', '--offline=true', u]);
    // The drop-in is read: CAP_NET_ADMIN is now held (a ✗ line), CAP_SYS_ADMIN still not.
    assert.match(s.out, /✗ CapabilityBoundingSet=~CAP_NET_ADMIN/);
    assert.match(s.out, /✓ CapabilityBoundingSet=~CAP_SYS_ADMIN/);
    assert.ok(exposure(s.out) <= 3.0, s.out);
  });

  test('a weakened unit is caught (the checks can fail)', () => {
    const text = readFileSync(join(UNITS, 'sipwarden.service'), 'utf8')
      .replace(/^ExecStart=\/usr\/bin\/sipwarden /m, `ExecStart=${process.execPath} `)
      .replace(/^(CapabilityBoundingSet|ProtectSystem|SystemCallFilter|RestrictAddressFamilies|PrivateDevices|ProtectKernel\w+|ProtectHome|DynamicUser|NoNewPrivileges)=.*$/gm, '');
    writeFileSync(join(dir, 'weak.service'), text);
    assert.ok(exposure(analyze(['security', '--offline=true', './weak.service']).out) > 3.0);
    writeFileSync(join(dir, 'bad.service'), text.replace('[Service]', '[Service]\nProtectSystem=sometimes'));
    const v = analyze(['verify', './bad.service']);
    assert.match(v.out, /protect system value/);
    assert.notEqual(v.out.trim(), "");
  });
});
