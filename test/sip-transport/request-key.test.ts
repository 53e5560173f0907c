import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'node:test';
import { requestKey } from '../../src/sip/capture.js';

test('retransmission keys: equal inputs give equal keys, any field change gives another key', () => {
  const base = ['UDP', '203.0.113.7', 5060, 'z9hG4bK776asdhds', 'a84b4c76e66710@pc33', '314159 INVITE'] as const;
  const k = requestKey(...base);
  assert.equal(k, requestKey(...base));
  assert.ok(Number.isSafeInteger(k) && k >= 0);
  assert.notEqual(k, requestKey('TCP', base[1], base[2], base[3], base[4], base[5]));
  assert.notEqual(k, requestKey(base[0], '203.0.113.8', base[2], base[3], base[4], base[5]));
  assert.notEqual(k, requestKey(base[0], base[1], 5061, base[3], base[4], base[5]));
  assert.notEqual(k, requestKey(base[0], base[1], base[2], 'z9hG4bK776asdhdt', base[4], base[5]));
  assert.notEqual(k, requestKey(base[0], base[1], base[2], base[3], base[4], '314160 INVITE'));
  // Field boundaries matter.
  assert.notEqual(requestKey('UDP', '1.2.3.4', 1, 'ab', 'c', ''), requestKey('UDP', '1.2.3.4', 1, 'a', 'bc', ''));
});

test('retransmission keys do not collide over 200,000 distinct requests', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 200_000; i++) seen.add(requestKey('UDP', `10.0.${i & 255}.${(i >> 8) & 255}`, 5060, `z9hG4bK${i}`, `${i}@blast`, '1 OPTIONS'));
  assert.equal(seen.size, 200_000);
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => (a === b) === (requestKey('UDP', '::1', 1, a, '', '') === requestKey('UDP', '::1', 1, b, '', '')) || a !== b));
});

test('socket addresses are stored as the event fields says: v4-mapped as IPv4, zone dropped, same as normalizeIp', async () => {
  const { stripV4Mapped } = await import('../../src/sip/transport/udp.js');
  const { normalizeIp } = await import('../../src/net/ip.js');
  for (const [input, want] of [['::ffff:203.0.113.7', '203.0.113.7'], ['fe80::1%eth0', 'fe80::1'], ['2001:db8::1', '2001:db8::1'], ['127.0.0.1', '127.0.0.1']] as const) {
    assert.equal(stripV4Mapped(input), want);
    assert.equal(normalizeIp(input), want);
  }
});
