/**
 * Every error sipwarden makes carries a catalogue code: each error class in src/ extends SipwardenError, and no
 * code creates a bare Error/TypeError/RangeError outside a short list of reasoned exceptions. A static check over
 * the sources, so a new uncoded error fails here rather than reaching a log line without a code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * Places allowed to create uncoded errors, with why. Paths relative to the repository; a folder ends with `/`.
 * Keep this short: prefer a SipwardenError with a code.
 */
const ALLOWED: Record<string, string> = {
  // The published API client depends on nothing in the node; `sipwarden query` maps its classes to
  // SW_API_UNREACHABLE / SW_API_REQUEST_FAILED.
  'src/client/': 'standalone client library',
  // Mimics an OS error (code ENOTDIR) so the data-directory check reports it like every other OS cause.
  'src/cli/startup.ts:ENOTDIR': 'OS-style error',
};

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

/** Drops comments (line and block) so prose mentioning `new Error(` does not count. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function allowed(file: string, line: string): boolean {
  for (const key of Object.keys(ALLOWED)) {
    if (key.endsWith('/') && file.startsWith(key)) return true;
    const [f, marker] = key.split(':') as [string, string | undefined];
    if (file === f && marker !== undefined && line.includes(marker)) return true;
  }
  return false;
}

interface Found {
  classes: Map<string, { parent: string; where: string }>;
  bare: string[];
}

/** Error classes (name → parent) and bare `new Error(` sites of a set of files. */
export function scan(files: Iterable<[string, string]>): Found {
  const classes = new Map<string, { parent: string; where: string }>();
  const bare: string[] = [];
  for (const [file, raw] of files) {
    const lines = stripComments(raw).split('\n');
    lines.forEach((line, i) => {
      const where = `${file}:${i + 1}`;
      for (const m of line.matchAll(/\bclass\s+(\w+)(?:<[^>]*>)?\s+extends\s+([\w.]+)/g)) classes.set(m[1]!, { parent: m[2]!, where });
      if (/\bnew\s+(Error|TypeError|RangeError)\s*\(/.test(line) && !allowed(file, line)) bare.push(`${where}: ${line.trim()}`);
    });
  }
  return { classes, bare };
}

/** Classes whose chain reaches a built-in error without passing SipwardenError. */
export function uncodedClasses(found: Found, isAllowed: (where: string) => boolean): string[] {
  const out: string[] = [];
  for (const [name, { where }] of found.classes) {
    let cur: string | undefined = name;
    const seen = new Set<string>();
    let builtin = false;
    while (cur && !seen.has(cur)) {
      seen.add(cur);
      if (cur === 'SipwardenError') break;
      if (cur === 'Error' || cur === 'TypeError' || cur === 'RangeError') {
        builtin = true;
        break;
      }
      cur = found.classes.get(cur)?.parent;
    }
    if (builtin && name !== 'SipwardenError' && !isAllowed(where)) out.push(`${where}: class ${name}`);
  }
  return out;
}

function sources(): [string, string][] {
  return [...tsFiles(SRC)].map((p) => [relative(ROOT, p).split('\\').join('/'), readFileSync(p, 'utf8')]);
}

test('every error class in src/ extends SipwardenError (so it has a catalogue code)', () => {
  const found = scan(sources());
  assert.ok(found.classes.has('ConfigError'), 'the scan sees src/errors.ts');
  assert.deepEqual(uncodedClasses(found, (where) => allowed(where.split(':')[0]!, '')), []);
});

test('no bare Error/TypeError/RangeError is created in src/ outside the reasoned list', () => {
  assert.deepEqual(scan(sources()).bare, []);
});

test('the checks notice an uncoded class, a subclass of one, and a bare error', () => {
  const found = scan([
    ['src/x.ts', 'class A extends Error {}\nclass B extends A {}\nclass C extends SipwardenError {}\n// new Error( in a comment\nthrow new Error("x");\n'],
  ]);
  assert.deepEqual(uncodedClasses(found, () => false).map((s) => s.split(': ')[1]), ['class A', 'class B']);
  assert.deepEqual(found.bare, ['src/x.ts:5: throw new Error("x");']);
});
