#!/usr/bin/env node
// `npm test`: installs the Debian tools the e2e tests drive (idempotent), builds dist/ (the daemon the e2e tests
// spawn), then runs every test file under test/ with node's test runner, files in parallel.
// Usage: npm test [-- <file-or-dir-filter> ...]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`run-tests: ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

// A fresh clone (CI) has no node_modules yet: install exactly what package-lock.json pins.
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) run('npm', ['ci']);
if (process.env.SIPWARDEN_SKIP_TOOL_INSTALL !== '1') run('bash', ['scripts/install-test-tools.sh']);
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
let files = walk(join(root, 'test')).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (!files.length) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
// Heavy e2e files first so the long ones overlap with the many short ones. Files that measure latency under a
// load they make themselves (their first lines say `test-runner: exclusive`) run afterwards, alone, so the other
// files' load does not decide their outcome.
files.sort((a, b) => Number(b.includes('/e2e/')) - Number(a.includes('/e2e/')));
const exclusive = files.filter((f) => readFileSync(join(root, f), 'utf8').slice(0, 2000).includes('test-runner: exclusive'));
const shared = files.filter((f) => !exclusive.includes(f));
const concurrency = process.env.SIPWARDEN_TEST_CONCURRENCY ?? '6';
const totals = { pass: 0, fail: 0, skipped: 0 };

/** Runs node's test runner over `list`, passing its output through and adding up its closing counts. */
function runPhase(list, conc) {
  if (list.length === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${conc}`, `--test-timeout=${process.env.SIPWARDEN_TEST_TIMEOUT_MS ?? '1200000'}`, ...list],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SIPWARDEN_TEST_ROOT: root } },
    );
    let tail = '';
    p.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-4000);
    });
    p.on('close', (code) => {
      for (const k of Object.keys(totals)) {
        const m = new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tail);
        if (m) totals[k] += Number(m[1]);
      }
      resolve(code ?? 1);
    });
  });
}

const first = await runPhase(shared, concurrency);
const second = await runPhase(exclusive, '1');
// One closing line over both phases.
console.log(`tests: ${totals.pass} passed, ${totals.fail} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(first !== 0 ? first : second);
