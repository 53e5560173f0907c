#!/usr/bin/env node
// `npm test`: installs the Debian tools the e2e tests drive (idempotent), builds dist/ (the daemon the e2e tests
// spawn), then runs every test file under test/ with node's test runner, files in parallel.
// Usage: npm test [-- <file-or-dir-filter> ...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
// Heavy e2e files first so the long ones overlap with the many short ones.
files.sort((a, b) => Number(b.includes('/e2e/')) - Number(a.includes('/e2e/')));
const concurrency = process.env.SIPWARDEN_TEST_CONCURRENCY ?? '6';
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${process.env.SIPWARDEN_TEST_TIMEOUT_MS ?? '1200000'}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SIPWARDEN_TEST_ROOT: root } },
);
process.exit(r.status ?? 1);
