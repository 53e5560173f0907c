// The store owns the database: no SQL text and no prepared statement anywhere in src/ outside src/store/ (a reader
// finds every statement of the project there). Checked over the source tree, and shown to fail on a fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
// Statement heads as SQL writes them (upper case keyword, then what follows it in a statement), and prepare().
const SQL = [/\bSELECT\s+[\w*(]/, /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/, /\bUPDATE\s+\w+\s+SET\b/, /\bDELETE\s+FROM\b/, /\bCREATE\s+(TABLE|INDEX)\b/, /\.prepare\s*[<(]/];

/** Lines of `text` that look like SQL. */
function sqlLines(text: string): number[] {
  const out: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (SQL.some((re) => re.test(line))) out.push(i + 1);
  });
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('no SQL outside src/store/', () => {
  const found: string[] = [];
  for (const f of walk(SRC)) {
    const rel = relative(SRC, f);
    // Generated client types describe the API, not the database.
    if (rel.startsWith('store/') || rel === 'client/schema.ts') continue;
    for (const n of sqlLines(readFileSync(f, 'utf8'))) found.push(`src/${rel}:${n}`);
  }
  assert.deepEqual(found, []);
});

test('the check notices SQL (fixture)', () => {
  assert.deepEqual(sqlLines("const q = db.prepare('SELECT ip FROM ip_stats');\nconst x = 1;"), [1]);
  assert.deepEqual(sqlLines("'INSERT OR IGNORE INTO peer_records (a) VALUES (?)'"), [1]);
  assert.deepEqual(sqlLines("'DELETE FROM webhook_outbox WHERE outbox_id = ?'"), [1]);
  assert.deepEqual(sqlLines('// selects the newest row; update the set'), []);
});
