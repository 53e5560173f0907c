#!/usr/bin/env node
// `npm run package:deb [-- --out DIR]`: builds sipwarden_<version>_<arch>.deb with dpkg-deb from this checkout.
// Layout: the app and its production node_modules in /usr/lib/sipwarden, /usr/bin/sipwarden, the systemd units,
// /etc/sipwarden/config.toml, /etc/default/sipwarden, /etc/logrotate.d/sipwarden and the fail2ban kit (jail off)
// as conffiles, docs in /usr/share/doc/sipwarden. The node_modules are this checkout's (native modules already
// built for Node 20), copied and pruned to production: `npm ci --omit=dev` would compile better-sqlite3 again
// (about 45 s) for the same result. Prints the .deb path on stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, openSync, readSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 ? args[outIdx + 1] : join(root, 'build');
if (!outDir) {
  process.stderr.write('usage: node scripts/package-deb.mjs [--out DIR]\n');
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const name = `sipwarden_${version}_${arch}`;
const stage = join(outDir, name);
const t0 = Date.now();
const phase = (what) => process.stderr.write(`package-deb: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`package-deb: ${cmd} ${argv.join(' ')} failed (exit ${r.status ?? r.signal})\n${r.stdout ?? ''}`);
    process.exit(1);
  }
  return r.stdout;
}
function put(rel, text, mode = 0o644) {
  const p = join(stage, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
}
function copy(from, rel, mode = 0o644) {
  const p = join(stage, rel);
  mkdirSync(dirname(p), { recursive: true });
  copyFileSync(join(root, from), p);
  chmodSync(p, mode);
}

if (!existsSync(join(root, 'dist', 'main.js'))) run('npm', ['run', 'build'], { cwd: root });
if (!existsSync(join(root, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))) {
  process.stderr.write('package-deb: node_modules is not built; run `npm ci` first\n');
  process.exit(1);
}
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// --- the application: /usr/lib/sipwarden
const app = 'usr/lib/sipwarden';
mkdirSync(join(stage, app), { recursive: true });
for (const f of ['package.json', 'package-lock.json']) copy(f, `${app}/${f}`);
cpSync(join(root, 'dist'), join(stage, app, 'dist'), { recursive: true });
copy('bin/sipwarden', `${app}/bin/sipwarden`, 0o755);
cpSync(join(root, 'node_modules'), join(stage, app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
phase('copied node_modules');
// Production only; --ignore-scripts: nothing is built or rebuilt here.
run('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: join(stage, app) });
phase('pruned');
rmSync(join(stage, app, 'package-lock.json'));
rmSync(join(stage, app, 'node_modules', '.package-lock.json'), { force: true });
// Native modules: keep the compiled addon, drop sources and build intermediates (tens of MB).
for (const [mod, addon] of [['better-sqlite3', 'better_sqlite3.node'], ['unix-dgram', 'unix_dgram.node']]) {
  const dir = join(stage, app, 'node_modules', mod);
  const keep = readFileSync(join(dir, 'build', 'Release', addon));
  for (const sub of ['build', 'deps', 'src']) rmSync(join(dir, sub), { recursive: true, force: true });
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  writeFileSync(join(dir, 'build', 'Release', addon), keep);
  chmodSync(join(dir, 'build', 'Release', addon), 0o644);
  run('strip', ['--strip-unneeded', join(dir, 'build', 'Release', addon)]);
}
// koffi (the OpenDHT binding) ships prebuilt addons for glibc and musl and the sources of its own builder: keep
// the glibc one only (a musl binary is not linked against this libc), drop the builder.
{
  const prebuilt = join(stage, app, 'node_modules', '@koromix');
  if (existsSync(prebuilt)) for (const pkg of readdirSync(prebuilt)) rmSync(join(prebuilt, pkg, 'musl_x64'), { recursive: true, force: true });
  const k = join(stage, app, 'node_modules', 'koffi');
  for (const sub of ['src', 'vendor', 'doc', 'cnoke.cjs']) rmSync(join(k, sub), { recursive: true, force: true });
}
// Files that have no place in an installed tree (tests, benchmarks, examples, docs pages: lintian flags some of
// them); modes normalised: 0755 for directories and scripts, 0644 for the rest.
const JUNK_DIRS = new Set(['.github', 'test', 'tests', '__tests__', 'bench', 'benchmark', 'benchmarks', 'example', 'examples', 'integration', 'docs', '.bin']);
function tidy(dir, inModules) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isSymbolicLink()) continue;
    if (ent.isDirectory()) {
      if (inModules && JUNK_DIRS.has(ent.name)) {
        rmSync(p, { recursive: true, force: true });
        continue;
      }
      chmodSync(p, 0o755);
      tidy(p, inModules || ent.name === 'node_modules');
    } else if (
      inModules &&
      (/^\.(npmignore|gitignore|eslintrc.*|prettierrc.*|travis\.yml|editorconfig|gitattributes|nycrc|taprc)$/.test(ent.name) ||
        (/\.(html|md|markdown)$/i.test(ent.name) && !/^licen[cs]e/i.test(ent.name)))
    ) {
      rmSync(p);
    } else {
      // Executable exactly when it is a script (starts with #!): what lintian checks both ways.
      const head = Buffer.alloc(2);
      const fd = openSync(p, 'r');
      readSync(fd, head, 0, 2, 0);
      closeSync(fd);
      chmodSync(p, head.toString('latin1') === '#!' ? 0o755 : 0o644);
    }
  }
}
tidy(join(stage, app), false);
// Pruning leaves empty scope directories (node_modules/@types/) behind.
function dropEmpty(dir) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) if (ent.isDirectory()) dropEmpty(join(dir, ent.name));
  if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
}
dropEmpty(join(stage, app, 'node_modules'));
mkdirSync(join(stage, 'usr/bin'), { recursive: true });
symlinkSync('../lib/sipwarden/bin/sipwarden', join(stage, 'usr/bin/sipwarden'));

// --- configuration (conffiles), units, logrotate, fail2ban
copy('deploy/config/config.toml', 'etc/sipwarden/config.toml');
copy('deploy/config/default', 'etc/default/sipwarden');
copy('deploy/logrotate/sipwarden', 'etc/logrotate.d/sipwarden');
copy('deploy/fail2ban/filter.d/sipwarden.conf', 'etc/fail2ban/filter.d/sipwarden.conf');
// The jail ships switched off: installing a package must not start banning on a machine that runs fail2ban.
const jail = readFileSync(join(root, 'deploy/fail2ban/jail.d/sipwarden.conf'), 'utf8').replace(
  /^enabled\s*=\s*true\s*$/m,
  '# Installed switched off by the Debian package: set "enabled = true" once sipwarden logs to syslog (-s).\nenabled   = false',
);
if (!/^enabled\s*=\s*false/m.test(jail)) {
  process.stderr.write('package-deb: could not switch the fail2ban jail off\n');
  process.exit(1);
}
put('etc/fail2ban/jail.d/sipwarden.conf', jail);
for (const u of ['sipwarden.service', 'sipwarden@.service']) copy(`deploy/systemd/${u}`, `lib/systemd/system/${u}`);

// --- documentation
const doc = 'usr/share/doc/sipwarden';
copy('README.md', `${doc}/README.md`);
for (const f of readdirSync(join(root, 'docs'))) if (f.endsWith('.md')) copy(`docs/${f}`, `${doc}/${f}`);
copy('deploy/systemd/firewall.conf', `${doc}/examples/systemd/firewall.conf`);
const license = readFileSync(join(root, 'LICENSE'), 'utf8');
put(
  `${doc}/copyright`,
  [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: sipwarden',
    '',
    'Files: *',
    'Copyright: 2026 The sipwarden authors',
    'License: Expat',
    '',
    'Files: usr/lib/sipwarden/node_modules/*',
    'Copyright: the authors of each module, named in its package.json',
    'License: various free licenses (MIT, ISC, Apache-2.0, BSD), each in its module directory',
    '',
    'License: Expat',
    ...license.trim().split('\n').slice(2).map((l) => (l.trim() === '' ? ' .' : ` ${l}`)),
    '',
  ].join('\n'),
);
const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000).toUTCString()
  .replace(/GMT$/, '+0000');
const maintainer = 'sipwarden maintainers <maintainers@sipwarden.example.org>';
const changelog = `sipwarden (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${maintainer}  ${date}\n`;
put(`${doc}/changelog.gz`, gzipSync(changelog, { level: 9 }));

// --- DEBIAN/
function duKiB(dir) {
  let total = 0;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) total += duKiB(p);
    else if (!ent.isSymbolicLink()) total += Math.ceil(statSync(p).size / 1024);
  }
  return total;
}
function files(dir) {
  const out = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) out.push(...files(p));
    else if (ent.isFile()) out.push(p);
  }
  return out;
}
const installedKiB = duKiB(stage);
const md5 = files(stage)
  .map((p) => `${createHash('md5').update(readFileSync(p)).digest('hex')}  ${relative(stage, p)}`)
  .sort((a, b) => (a.slice(34) < b.slice(34) ? -1 : 1))
  .join('\n');
const conffiles = [
  '/etc/sipwarden/config.toml', '/etc/default/sipwarden', '/etc/logrotate.d/sipwarden',
  '/etc/fail2ban/filter.d/sipwarden.conf', '/etc/fail2ban/jail.d/sipwarden.conf',
];
// The native addons are built for Node 20's ABI (NODE_MODULE_VERSION 115): another major cannot load them.
// Debian 12 ships Node 18, so on bookworm Node 20 comes from NodeSource (package "nodejs", 20.x); Debian 13
// ships 20.19.
put(
  'DEBIAN/control',
  [
    'Package: sipwarden',
    `Version: ${version}`,
    'Section: net',
    'Priority: optional',
    `Architecture: ${arch}`,
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${installedKiB}`,
    'Depends: nodejs (>= 20.18), nodejs (<< 21), adduser, libc6 (>= 2.34), libstdc++6 (>= 11)',
    'Recommends: logrotate',
    'Suggests: fail2ban, nftables, rsyslog',
    'Homepage: https://www.npmjs.com/package/sipwarden',
    `Description: SIP honeypot and VoIP-fraud intelligence node`,
    ' sipwarden listens where a PBX would and records every SIP probe (source',
    ' address, dialled number, user agent, guessed credentials) in sqlite. It',
    ' serves them over a REST API, writes a JSON log and a fail2ban-ready syslog',
    ' line, posts webhooks and shares what it sees with other nodes over signed',
    ' libp2p gossip. It is a drop-in replacement for SentryPeer.',
    ' .',
    ' The package installs the service but neither enables nor starts it.',
    '',
  ].join('\n'),
);
put('DEBIAN/conffiles', conffiles.join('\n') + '\n');
put('DEBIAN/md5sums', md5 + '\n');
for (const s of ['postinst', 'postrm']) copy(`deploy/debian/${s}`, `DEBIAN/${s}`, 0o755);

phase('staged');
mkdirSync(outDir, { recursive: true });
const deb = join(outDir, `${name}.deb`);
run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', stage, deb]);
rmSync(stage, { recursive: true, force: true });
process.stderr.write(`package-deb: ${deb} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.stdout.write(deb + '\n');
