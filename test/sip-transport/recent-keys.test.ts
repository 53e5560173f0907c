import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'node:test';
import { RecentKeys } from '../../src/sip/recent-keys.js';

test('recent keys: seen within the window, forgotten after it, across a generation rotation', () => {
  const r = new RecentKeys(32_000, 1000, 0);
  assert.equal(r.seenElseAdd(42, 0), false);
  assert.equal(r.seenElseAdd(42, 31_999), true);
  assert.equal(r.seenElseAdd(7, 20_000), false);
  // 32 s after the start the young generation rotates; 7 (20 s ago) is still found in the old one.
  assert.equal(r.seenElseAdd(7, 40_000), true);
  // 42 was first seen 40 s ago: a new request again.
  assert.equal(r.seenElseAdd(42, 40_000), false);
  assert.equal(r.seenElseAdd(0, 40_000), false, 'key 0 is a key like any other');
  assert.equal(r.seenElseAdd(0, 40_001), true);
});

test('recent keys: a full generation rotates early; 200,000 distinct keys give no false match', () => {
  const r = new RecentKeys(32_000, 100_000, 0);
  for (let i = 1; i <= 200_000; i++) assert.equal(r.seenElseAdd(i * 7919 + 0x1f000000000, 1), false);
  assert.ok(r.size <= 100_000);
  // The newest 100,000 are still remembered (young or old generation).
  for (let i = 100_001; i <= 200_000; i += 997) assert.equal(r.seenElseAdd(i * 7919 + 0x1f000000000, 2), true);
});

test('property: same answers as a two-generation Map reference', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 9000 })), { maxLength: 400 }), (ops) => {
      const WINDOW = 10_000;
      const MAX = 16;
      const r = new RecentKeys(WINDOW, MAX, 0);
      let young = new Map<number, number>();
      let old = new Map<number, number>();
      let rotatedAt = 0;
      let t = 0;
      for (const [k, dt] of ops) {
        t += dt;
        if (t - rotatedAt >= WINDOW || young.size >= MAX) {
          old = young;
          young = new Map();
          rotatedAt = t;
        }
        const key = k * 0x100000001;
        const at = old.get(key);
        let want: boolean;
        if (at !== undefined && t - at < WINDOW) want = true;
        else {
          const y = young.get(key);
          if (y !== undefined && t - y < WINDOW) want = true;
          else {
            young.set(key, t);
            want = false;
          }
        }
        assert.equal(r.seenElseAdd(key, t), want);
      }
    }),
    { numRuns: 300 },
  );
});
