import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RING_MAX, createReplyLimiter } from '../../src/sip/responder/rate.js';

function countAllowed(cap: number, sends: number[]): number {
  const l = createReplyLimiter(cap);
  return sends.filter((t) => l.tryTake('192.0.2.1', t)).length;
}

test('small caps are an exact sliding one-second window', () => {
  const every10ms = Array.from({ length: 300 }, (_, i) => i * 10); // 3 s at 100/s
  assert.equal(countAllowed(50, every10ms), 150);
  // Any one-second window holds at most the cap.
  const l = createReplyLimiter(RING_MAX);
  const allowed = every10ms.filter((t) => l.tryTake('198.51.100.9', t));
  for (const t of allowed) assert.ok(allowed.filter((u) => u >= t && u < t + 1000).length <= RING_MAX);
});

test('high caps keep O(1) memory per source and still cap every bucket-aligned second', () => {
  // Regression: a ring per source sized by the cap made --reply-rate-limit 1000000 cost 8 MB per source.
  const before = process.memoryUsage().arrayBuffers;
  const l = createReplyLimiter(1_000_000);
  for (let i = 0; i < 5_000; i++) l.tryTake(`10.0.${i >> 8}.${i & 255}`, 1000);
  assert.ok(process.memoryUsage().arrayBuffers - before < 10 * 1024 * 1024);
  const sends = Array.from({ length: 5000 }, (_, i) => i); // 5,000 in 5 s at 1/ms
  assert.equal(countAllowed(1000, sends), 5000);
  const burst = Array.from({ length: 3000 }, () => 5_000); // 3,000 at once
  assert.equal(countAllowed(1000, burst), 1000);
  const l2 = createReplyLimiter(100);
  let ok = 0;
  for (let t = 0; t < 10_000; t += 2) if (l2.tryTake('203.0.113.5', t)) ok++;
  assert.ok(ok <= 100 * 10 + 100 && ok >= 100 * 9, `allowed ${ok} in 10 s at cap 100`);
});

test('a cap of 0 means unlimited', () => {
  assert.equal(countAllowed(0, Array.from({ length: 1000 }, () => 1)), 1000);
});
