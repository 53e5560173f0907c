/**
 * GeoIP flags through the real daemon (dist/main.js): a missing or corrupt database is one line naming the flag,
 * path and cause, exit 2, before anything listens; SIGHUP reloads the databases (a bad file keeps the old ones).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, runCli, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';

const FIX = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
const ARGS = ['--sip-listen', '127.0.0.1:0', '--no-tls'];
const daemons: Daemon[] = [];
const dirs: string[] = [];
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
  for (const d of dirs) cleanup(d);
});

describe('geo flags (daemon)', { timeout: 120_000 }, () => {
  test('missing or corrupt database: one line, exit 2, nothing listens', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const missing = join(dir, 'nope.mmdb');
    const bad = join(dir, 'bad.mmdb');
    writeFileSync(bad, Buffer.alloc(2048, 7));
    const cases: [string[], RegExp][] = [
      [['--geoip-db', missing], new RegExp(`^sipwarden: error: --geoip-db: cannot use ${missing.replace(/[.]/g, '\\.')}: no such file\\n$`)],
      [['--asn-db', bad], /^sipwarden: error: --asn-db: cannot use .*bad\.mmdb: not a MaxMind DB file \(.*\)\n$/],
      [['--asn-db', join(FIX, 'GeoIP2-City-Test.mmdb')], /^sipwarden: error: --asn-db: cannot use .*: database type "GeoIP2-City" is not an ASN database\n$/],
    ];
    for (const [args, want] of cases) {
      const r = await runCli([...ARGS, '--data-dir', dir, ...args], { timeoutMs: 30_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stdout + r.stderr, /listening/);
    }
  });

  test('SIGHUP reloads; a corrupt replacement is refused and the node keeps running', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const geo = join(dir, 'geo.mmdb');
    copyFileSync(join(FIX, 'GeoIP2-Country-Test.mmdb'), geo);
    const d = await startDaemon([...ARGS, '-v', '--geoip-db', geo, '--asn-db', join(FIX, 'GeoLite2-ASN-Test.mmdb')], { timeoutMs: 60_000 });
    daemons.push(d);
    dirs.push(d.dataDir);
    await waitFor(() => /sipwarden: ready/.test(d.stderr()), 30_000);
    copyFileSync(join(FIX, 'GeoIP2-City-Test.mmdb'), geo);
    d.proc.kill('SIGHUP');
    await waitFor(() => /GeoIP\/ASN databases reloaded/.test(d.stderr()), 20_000);
    writeFileSync(geo, 'garbage');
    d.proc.kill('SIGHUP');
    await waitFor(() => /GeoIP\/ASN reload failed; keeping the databases in use/.test(d.stderr()), 20_000);
    assert.match(d.stderr(), /not a MaxMind DB file/);
    assert.equal(d.proc.exitCode, null, 'still running');
    assert.equal(await d.stop(), 0);
  });
});
