// The dashboard's display helper: whatever an attacker sent, what is shown has no control characters and no
// bidirectional override or mark left (they are made visible), and plain text passes unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { trend, visible } from '../../ui/src/text.js';

const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u061c]/u;

test('property: visible() leaves no control or bidi character, and is the identity on printable text', () => {
  const hostile = fc.string({ unit: fc.oneof(fc.constantFrom('\u202e', '\u200f', '\u2066', '\u0007', '\u0000', '\u009b', '\ufeff', '<', '>', '&', '"'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) });
  fc.assert(fc.property(hostile, (s) => {
    const v = visible(s);
    assert.ok(!HIDDEN.test(v), JSON.stringify(v));
    if (!HIDDEN.test(s)) assert.equal(v, s);
  }), { numRuns: 2000 });
  assert.equal(visible('a\u202eb\u0007'), 'a<U+202E>b\u2407');
  assert.equal(visible('<script>'), '<script>');
  assert.equal(visible(null), '');
});

test('trend: direction and percentage of the last 24 h against the 24 h before', () => {
  assert.deepEqual(trend(5, 0), { text: 'new', dir: 'new' });
  assert.deepEqual(trend(0, 0), { text: '–', dir: 'flat' });
  assert.deepEqual(trend(15, 10), { text: '▲ 50%', dir: 'up' });
  assert.deepEqual(trend(5, 10), { text: '▼ 50%', dir: 'down' });
  assert.deepEqual(trend(10, 10), { text: '0%', dir: 'flat' });
});
