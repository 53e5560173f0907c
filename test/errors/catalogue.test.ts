/** The error catalogue: every code in `src/errors.ts` is documented in docs/ERRORS.md, and nothing else is. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/errors.js';

/** The codes a docs table lists (first column of rows that start with a backquoted `SW_…`). */
export function documentedCodes(markdown: string): string[] {
  const out: string[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`(SW_[A-Z0-9_]+)`\s*\|/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

test('docs/ERRORS.md lists exactly the codes of src/errors.ts, each once', () => {
  const doc = documentedCodes(readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8'));
  const code = Object.values(ERROR_CODES);
  assert.equal(new Set(doc).size, doc.length, 'a code is documented twice');
  assert.equal(new Set(code).size, code.length, 'two names share a code');
  assert.deepEqual([...doc].sort(), [...code].sort());
});

test('the check notices a missing and an extra row', () => {
  const rows = '| `SW_A` | x | y |\n| `SW_B` | x | y |\n';
  assert.deepEqual(documentedCodes(rows), ['SW_A', 'SW_B']);
  assert.notDeepEqual(documentedCodes(rows.split('\n')[0]!), ['SW_A', 'SW_B']);
});
