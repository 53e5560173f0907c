/**
 * A new user's first steps, as the README writes them: the README's Install block (`npm pack`, the global install,
 * `sipwarden -h`, `sipwarden config check`, starting the node) and then its scanner block (sipsak, svmap, svwar,
 * curl), each line run verbatim against `sipwarden` from PATH. Only what the README cannot say is supplied: the
 * global prefix is a temp dir (npm_config_prefix, so the host's /usr is untouched), `npm pack` runs in a copy of the
 * checkout's files (with its node_modules linked for the compiler prepack runs), and the node and the scanners run
 * in a network namespace of the test's own, where 5060 and 8082 are free, with a fresh HOME.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, cleanup, tempDir } from '../helpers/daemon.js';
import { NetNs, startCommand, type Running } from './util.js';

const dir = tempDir('sipwarden-fresh-');
const checkout = join(dir, 'checkout');
const prefix = join(dir, 'prefix');
const home = join(dir, 'home');
const work = join(dir, 'work');
let ns: NetNs | null = null;
let daemon: Running | null = null;

/** The shell lines of the first ```sh block after `heading` in the README, comments stripped. */
function readmeBlock(heading: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  assert.ok(at >= 0, `README has no "${heading}"`);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, `no sh block after "${heading}"`);
  return m[1]!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

const userEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
  npm_config_prefix: prefix,
  npm_config_prefer_offline: 'true',
  npm_config_nodedir: '/usr',
});
/** Runs one README line with sh, bounded; in the namespace when `inNs`. */
function line(l: string, opts: { cwd: string; inNs?: boolean; timeoutMs?: number; home?: string }): { code: number | null; out: string } {
  const argv = ['timeout', '-k', '5', String(Math.ceil((opts.timeoutMs ?? 120_000) / 1000)), 'sh', '-c', l];
  const full = opts.inNs ? ns!.exec(...argv) : argv;
  const t0 = Date.now();
  const r = spawnSync(full[0]!, full.slice(1), {
    cwd: opts.cwd, encoding: 'utf8', env: { ...userEnv(), ...(opts.home ? { HOME: opts.home } : {}) },
    timeout: (opts.timeoutMs ?? 120_000) + 15_000, maxBuffer: 64 << 20,
  });
  process.stderr.write(`# ${l}: exit ${r.status} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

after(async () => {
  await daemon?.stop();
  ns?.remove();
  cleanup(dir);
});

describe('fresh machine: the README from npm pack to the scanners', { timeout: 1_100_000 }, () => {
  const install = readmeBlock('## Install');
  const scanners = readmeBlock('Point a scanner at it');

  before(() => {
    // The checkout as git sees it (tracked and new files, not ignored ones such as dist/ or node_modules/).
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
    for (const f of files) {
      mkdirSync(dirname(join(checkout, f)), { recursive: true });
      cpSync(join(ROOT, f), join(checkout, f));
    }
    assert.ok(!existsSync(join(checkout, 'dist')), 'dist/ is not in git: prepack must build it');
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
    for (const d of [prefix, home, work]) mkdirSync(d, { recursive: true });
    ns = new NetNs('f');
  });

  test('README install block: pack, install globally, sipwarden on PATH', () => {
    const [pack, ...rest] = install;
    // "npm pack && npm install -g ./sipwarden-*.tgz": both halves, as written, in the checkout copy.
    assert.match(pack!, /^npm pack && npm install -g \.\/sipwarden-\*\.tgz$/);
    const r = line(pack!, { cwd: checkout, timeoutMs: 1_000_000 });
    assert.equal(r.code, 0, r.out);
    const tgz = readdirSync(checkout).filter((f) => /^sipwarden-.*\.tgz$/.test(f));
    assert.equal(tgz.length, 1);
    // Only runtime files in the tarball.
    const listing = execFileSync('tar', ['-tzf', join(checkout, tgz[0]!)], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(listing.includes('package/dist/main.js') && listing.includes('package/bin/sipwarden') && listing.includes('package/LICENSE'));
    assert.ok(!listing.some((f) => /^package\/(src|test|bench)\//.test(f)), 'sources/tests/benchmarks in the tarball');
    const installed = join(prefix, 'lib', 'node_modules', 'sipwarden');
    assert.ok(existsSync(join(installed, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));
    assert.ok(!existsSync(join(installed, 'node_modules', 'typescript')), 'dev dependencies installed');
    assert.equal(spawnSync('sh', ['-c', 'command -v sipwarden'], { env: userEnv(), encoding: 'utf8' }).stdout.trim(), join(prefix, 'bin', 'sipwarden'));
    assert.deepEqual(rest.slice(0, 2), ['sipwarden -h', 'sipwarden config check']);
  });

  test('README: sipwarden -h and sipwarden config check from PATH', () => {
    const h = line('sipwarden -h', { cwd: work, home });
    assert.equal(h.code, 0, h.out);
    assert.match(h.out, /Usage: sipwarden/);
    const c = line('sipwarden config check', { cwd: work, home });
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /^sip_listen = /m);
  });

  test('README scanner commands against the node started as the README says', async () => {
    const start = install.find((l) => l.startsWith('sipwarden -r'));
    assert.equal(start, 'sipwarden -r -a -j --data-dir ./data');
    const [c, ...argv] = ns!.exec('sh', '-c', `exec ${start}`);
    daemon = await startCommand(c!, argv, {
      cwd: work, env: { ...userEnv(), HOME: home }, expect: { udp: 2, tcp: 2, http: 1 }, timeoutMs: 60_000,
    });
    assert.ok(daemon.listening.some((l) => l.kind === 'udp' && l.port === 5060));

    const results = new Map<string, string>();
    for (const l of scanners) {
      // A person types slower than this loop: keep each tool out of the previous one's per-source reply budget.
      await new Promise((r) => setTimeout(r, 1100));
      const r = line(l, { cwd: work, inNs: true, timeoutMs: 120_000, home });
      results.set(l.split(' ')[0] + (l.includes('INVITE') ? '-invite' : l.includes('/numbers') ? '-numbers' : ''), r.out);
      if (!l.startsWith('svmap') || !l.includes('INVITE')) assert.equal(r.code, 0, `${l}\n${r.out}`);
    }
    assert.match(results.get('sipsak')!, /SIP\/2\.0 200 OK/);
    assert.match(results.get('svmap')!, /127\.0\.0\.1:5060\s*\|/);
    // Exactly the decoys 100-115, each needing authentication.
    const found = [...results.get('svwar')!.matchAll(/^\|\s*(\S+)\s*\|\s*(\S+)\s*\|$/gm)]
      .map((m) => [m[1]!, m[2]!]).filter(([ext]) => ext !== 'Extension');
    assert.deepEqual(found.map(([e]) => e).sort(), Array.from({ length: 16 }, (_, i) => String(100 + i)).sort(), results.get('svwar'));
    assert.ok(found.every(([, how]) => how === 'reqauth'), results.get('svwar'));
    const ips = JSON.parse(results.get('curl')!) as unknown;
    assert.match(JSON.stringify(ips), /"127\.0\.0\.1"/);
    assert.match(results.get('curl-numbers')!, /0046812118532/);
    assert.ok(existsSync(join(work, 'data', 'sipwarden.db')) && existsSync(join(work, 'data', 'sipwarden_json.log')));
  });
});
