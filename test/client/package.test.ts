/**
 * `sipwarden/client` as a package consumer sees it: `npm pack` ships dist/client, the "exports" entry resolves for
 * node (import through a node_modules symlink to this checkout) and for TypeScript (NodeNext resolution, typed
 * paths). dist/ is built by `npm test` before the files run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, cleanup, tempDir } from '../helpers/daemon.js';

interface PackJson { files: { path: string }[] }
interface PackageJson { exports: Record<string, string | Record<string, string>> }

test('npm pack lists dist/client and every "exports" target of ./client', { timeout: 60_000 }, () => {
  // --ignore-scripts: no prepack build (dist/ is current) keeps this well under 30 s.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set((JSON.parse(out) as PackJson[])[0]!.files.map((f) => f.path));
  for (const f of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/schema.d.ts', 'dist/client/sse.js', 'dist/client/sse.d.ts', 'bin/sipwarden', 'dist/main.js']) {
    assert.ok(files.has(f), `${f} is packed`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const client = pkg.exports['./client'] as Record<string, string>;
  assert.deepEqual(Object.keys(client).sort(), ['default', 'import', 'types']);
  for (const target of Object.values(client)) assert.ok(files.has(target.replace(/^\.\//, '')), `${target} is packed`);
});

test('import "sipwarden/client" resolves for node and for TypeScript through node_modules', { timeout: 60_000 }, () => {
  const dir = tempDir('sw-client-pkg-');
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'sipwarden'), 'dir');
    writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n');
    writeFileSync(join(dir, 'use.mjs'), [
      "import { SipwardenClient, PAGED_LISTS, ApiUnreachableError } from 'sipwarden/client';",
      "const c = new SipwardenClient({ baseUrl: 'http://127.0.0.1:9/' });",
      "console.log(JSON.stringify({ ctor: typeof SipwardenClient, base: c.baseUrl, lists: Object.keys(PAGED_LISTS), err: typeof ApiUnreachableError, raw: typeof c.raw.GET }));",
    ].join('\n'));
    const got = JSON.parse(execFileSync(process.execPath, ['use.mjs'], { cwd: dir, encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(got, {
      ctor: 'function', base: 'http://127.0.0.1:9', err: 'function', raw: 'function',
      lists: ['/api/v1/events', '/api/v1/ip-addresses', '/api/v1/numbers', '/api/v1/credentials', '/api/v1/user-agents'],
    });
    // A subpath the package does not export is refused (the exports map is in force).
    assert.throws(() => execFileSync(process.execPath, ['--input-type=module', '-e', "import 'sipwarden/src/client/index.ts'"], { cwd: dir, stdio: 'pipe' }), /ERR_PACKAGE_PATH_NOT_EXPORTED/);

    // TypeScript sees the generated types through the "types" condition: a right use compiles, a wrong one does not.
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['use.ts'] }));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(join(dir, 'use.ts'), [
      "import { SipwardenClient } from 'sipwarden/client';",
      "const c = new SipwardenClient({ baseUrl: 'http://127.0.0.1:8082', token: 't' });",
      'export async function f(): Promise<string[]> {',
      "  const page = await c.get('/api/v1/ip-addresses', { limit: 5, country: 'DE' });",
      '  const ips: string[] = page.ip_addresses.map((r) => r.ip);',
      "  for await (const e of c.items('/api/v1/events', { order: 'asc' })) ips.push(e.source_ip);",
      '  return ips;',
      '}',
    ].join('\n'));
    execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'use.ts'), [
      "import { SipwardenClient } from 'sipwarden/client';",
      "const c = new SipwardenClient({ baseUrl: 'http://127.0.0.1:8082' });",
      "export const x = c.get('/api/v1/ip-addresses', { nosuch: 1 });",
    ].join('\n'));
    assert.throws(() => execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, stdio: 'pipe' }), (e: { stdout?: Buffer }) => /nosuch/.test(String(e.stdout)));
    assert.ok(existsSync(join(ROOT, 'dist', 'client', 'index.d.ts')));
  } finally {
    cleanup(dir);
  }
});
