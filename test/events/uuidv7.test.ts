import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'node:test';
import { createUuidV7Source, newEventUuid, newUuid, uuidV7Millis } from '../../src/events/event.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 128 bits as a bigint (reference decoding, independent of the generator's byte code). */
function bits(u: string): bigint {
  return BigInt('0x' + u.replaceAll('-', ''));
}

test('event uuids have the RFC 9562 version-7 layout and carry Date.now() at creation', () => {
  for (let k = 0; k < 20_000; k++) {
    const before = Date.now();
    const u = newEventUuid();
    const after = Date.now();
    assert.match(u, V7);
    const b = bits(u);
    assert.equal((b >> 76n) & 0xfn, 7n, 'version');
    assert.equal((b >> 62n) & 0x3n, 2n, 'variant 10');
    const ms = Number(b >> 80n);
    assert.equal(uuidV7Millis(u), ms);
    // The timestamp may run ahead only by counter borrowing (≥ 2,048 ids per ms before that happens).
    assert.ok(ms >= before && ms <= after + 2, `ms ${ms} not within [${before}, ${after + 2}]`);
  }
  assert.equal(uuidV7Millis(newUuid()), null, 'node ids stay version 4');
  assert.match(newUuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('event uuids are strictly increasing in one process, as text and as numbers, across many calls per ms', () => {
  let prev = newEventUuid();
  const seen = new Set<string>([prev]);
  const randomNibbles = Array.from({ length: 36 }, () => new Set<string>());
  for (let k = 0; k < 100_000; k++) {
    const u = newEventUuid();
    assert.ok(u > prev, `${u} <= ${prev}`);
    assert.ok(bits(u) > bits(prev));
    seen.add(u);
    for (let c = 20; c < 36; c++) randomNibbles[c]!.add(u[c]!);
    prev = u;
  }
  assert.equal(seen.size, 100_001);
  // rand_b is random: every nibble position after the variant takes all 16 values.
  for (let c = 20; c < 36; c++) if (c !== 23) assert.equal(randomNibbles[c]!.size, 16, `position ${c}`);
});

test('property: any clock sequence (same ms, jumps forward, steps backward) gives strictly increasing v7 ids', () => {
  const step = fc.oneof(
    { weight: 5, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 5 }) },
    { weight: 1, arbitrary: fc.integer({ min: -86_400_000, max: -1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 86_400_000 }) },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 47 }),
      fc.array(fc.tuple(step, fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 30 }),
      (start, script) => {
        let clock = start;
        const next = createUuidV7Source(() => clock);
        let prev = '';
        let maxClock = -1;
        for (const [delta, calls] of script) {
          clock = Math.max(0, clock + delta);
          maxClock = Math.max(maxClock, clock);
          for (let i = 0; i < calls; i++) {
            const u = next();
            assert.match(u, V7);
            assert.ok(u > prev, `${u} <= ${prev}`);
            const ms = uuidV7Millis(u)!;
            // Never behind the highest clock reading seen; never far ahead of it (borrowing only).
            assert.ok(ms >= maxClock && ms <= maxClock + Math.ceil(30 * 3000 / 2048) + 1, `ms ${ms} vs clock ${maxClock}`);
            prev = u;
          }
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('a clock step backwards keeps the last millisecond until the clock catches up, then follows it again', () => {
  let clock = 1_800_000_000_000;
  const next = createUuidV7Source(() => clock);
  const a = next();
  clock -= 60_000; // NTP steps the clock back a minute
  const b = next();
  assert.ok(b > a);
  assert.equal(uuidV7Millis(b), 1_800_000_000_000);
  clock = 1_800_000_000_005;
  const c = next();
  assert.ok(c > b);
  assert.equal(uuidV7Millis(c), 1_800_000_000_005);
});

test('more than 4,096 ids in one millisecond borrow the next millisecond and stay increasing', () => {
  const clock = 1_800_000_000_000;
  const next = createUuidV7Source(() => clock);
  let prev = '';
  let maxMs = 0;
  for (let i = 0; i < 20_000; i++) {
    const u = next();
    assert.ok(u > prev);
    prev = u;
    maxMs = uuidV7Millis(u)!;
  }
  // At least 2,048 ids per borrowed millisecond.
  assert.ok(maxMs > clock && maxMs <= clock + Math.ceil(20_000 / 2048), String(maxMs - clock));
});

test('a 48-bit timestamp near its end and odd clocks (NaN, negative) still give valid increasing ids', () => {
  let clock = 2 ** 48 - 2;
  const next = createUuidV7Source(() => clock);
  const a = next();
  clock = 2 ** 48 + 10;
  const b = next();
  assert.ok(b > a);
  assert.equal(uuidV7Millis(b), 2 ** 48 - 1);
  const early = createUuidV7Source(() => Number.NaN);
  const x = early();
  assert.match(x, V7);
  assert.equal(uuidV7Millis(x), 0);
  const neg = createUuidV7Source(() => -5);
  assert.equal(uuidV7Millis(neg()), 0);
});
