import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  normalizeIp,
  parseEndpoint,
  parseCidr,
  formatCidr,
  cidrContains,
  createIpMatcher,
  isLoopback,
  ipFamily,
} from '../../src/net/ip.js';

describe('normalizeIp', () => {
  const cases: [string, string | null][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['01.2.3.4', null],
    ['1.2.3', null],
    ['256.1.1.1', null],
    ['::', '::'],
    ['::1', '::1'],
    ['0:0::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // single zero group not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80::1%eth0', 'fe80::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['0:0:0:0:0:ffff:0102:0304', '1.2.3.4'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['', null],
    ['foo', null],
    ['1.2.3.4 ', null],
    ['1::2::3', null],
    ['12345::', null],
  ];
  for (const [input, want] of cases) {
    test(`${JSON.stringify(input)} -> ${want}`, () => assert.equal(normalizeIp(input), want));
  }

  test('ipFamily and isLoopback', () => {
    assert.equal(ipFamily('::ffff:10.0.0.1'), 4);
    assert.equal(ipFamily('::1'), 6);
    assert.equal(ipFamily('x'), 0);
    assert.ok(isLoopback('127.0.0.1'));
    assert.ok(isLoopback('127.255.0.9'));
    assert.ok(isLoopback('::1'));
    assert.ok(isLoopback('::ffff:127.0.0.1'));
    assert.ok(!isLoopback('0.0.0.0'));
    assert.ok(!isLoopback('::'));
    assert.ok(!isLoopback('10.0.0.1'));
    assert.ok(!isLoopback('nope'));
  });

  const v6arb = fc.ipV6();
  const anyIp = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended());

  test('property: idempotent and always valid', () => {
    fc.assert(
      fc.property(anyIp, (ip) => {
        const n = normalizeIp(ip);
        if (n === null) return; // fc.ipV4Extended produces octal/hex forms Node rejects
        assert.equal(normalizeIp(n), n);
        assert.equal(n, n.toLowerCase());
        assert.ok(!n.includes(':::'));
      }),
      { numRuns: 2000 },
    );
  });

  test('property: every fc IPv6 is accepted and round-trips through the expanded form', () => {
    fc.assert(
      fc.property(v6arb, (ip) => {
        const n = normalizeIp(ip);
        assert.notEqual(n, null);
        assert.equal(normalizeIp(expand(n!)), n);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: IPv4-mapped equals IPv4', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        assert.equal(normalizeIp(`::ffff:${ip}`), ip);
        const b = ip.split('.').map(Number);
        const hex = `::ffff:${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
        assert.equal(normalizeIp(hex), ip);
        assert.equal(normalizeIp(`[::ffff:${ip}]`), ip);
      }),
    );
  });
});

/** Fully expanded 8-group form of a canonical IPv6 address (test helper, independent implementation). */
function expand(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [a, b] = ip.split('::') as [string, string | undefined];
  const head = a ? a.split(':') : [];
  const tail = b !== undefined ? (b ? b.split(':') : []) : [];
  const mid = b !== undefined ? new Array(8 - head.length - tail.length).fill('0') : [];
  return [...head, ...mid, ...tail].map((g) => g.padStart(4, '0')).join(':');
}

describe('parseEndpoint', () => {
  const ok: [string, string, number][] = [
    ['1.2.3.4:5060', '1.2.3.4', 5060],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
    ['[2001:db8::1]:5060', '2001:db8::1', 5060],
    ['[::]:5061', '::', 5061],
    ['[::ffff:1.2.3.4]:80', '1.2.3.4', 80],
    ['[fe80::1%eth0]:5060', 'fe80::1', 5060],
    ['[2001:DB8:0:0::1]:1', '2001:db8::1', 1],
  ];
  for (const [input, ip, port] of ok) {
    test(`accepts ${input}`, () => assert.deepEqual(parseEndpoint(input), { ip, port }));
  }
  const bad = [
    '1.2.3.4',
    '1.2.3.4:',
    '1.2.3.4:65536',
    '1.2.3.4:-1',
    '1.2.3.4:123456',
    '1.2.3.4:5o60',
    '2001:db8::1:5060',
    '[2001:db8::1]',
    '[2001:db8::1]5060',
    '[1.2.3.4]:5060',
    'localhost:5060',
    ':5060',
    '',
    '1.2.3.4: 5060',
  ];
  for (const input of bad) test(`rejects ${JSON.stringify(input)}`, () => assert.equal(parseEndpoint(input), null));

  test('property: formatted endpoints parse back', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (ip, port) => {
        const n = normalizeIp(ip)!;
        const text = n.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
        assert.deepEqual(parseEndpoint(text), { ip: n, port });
      }),
    );
  });
});

describe('CIDR', () => {
  test('parse and format', () => {
    assert.equal(formatCidr(parseCidr('10.0.0.0/8')!), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('10.1.2.3/8')!), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('1.2.3.4')!), '1.2.3.4/32');
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')!), '0.0.0.0/0');
    assert.equal(formatCidr(parseCidr('2001:DB8::/32')!), '2001:db8::/32');
    assert.equal(formatCidr(parseCidr('2001:db8::1')!), '2001:db8::1/128');
    assert.equal(formatCidr(parseCidr('::/0')!), '::/0');
    assert.equal(formatCidr(parseCidr('::ffff:10.0.0.0/104')!), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('::ffff:1.2.3.4')!), '1.2.3.4/32');
    assert.equal(formatCidr(parseCidr('192.168.1.129/25')!), '192.168.1.128/25');
    assert.equal(parseCidr('10.0.0.0/33'), null);
    assert.equal(parseCidr('::/129'), null);
    assert.equal(parseCidr('10.0.0.0/'), null);
    assert.equal(parseCidr('10.0.0.0/x'), null);
    assert.equal(parseCidr('10.0.0.0/8/8'), null);
    assert.equal(parseCidr('10.0.0/8'), null);
    assert.equal(parseCidr('foo'), null);
    assert.equal(parseCidr(''), null);
  });

  test('contains', () => {
    const c = parseCidr('10.0.0.0/8')!;
    assert.ok(cidrContains(c, '10.255.1.2'));
    assert.ok(cidrContains(c, '::ffff:10.1.1.1'));
    assert.ok(!cidrContains(c, '11.0.0.0'));
    assert.ok(!cidrContains(c, '::1'));
    assert.ok(!cidrContains(c, 'junk'));
    const d = parseCidr('2001:db8::/32')!;
    assert.ok(cidrContains(d, '2001:db8:ffff::1'));
    assert.ok(cidrContains(d, '2001:0DB8::'));
    assert.ok(!cidrContains(d, '2001:db9::'));
    assert.ok(!cidrContains(d, '10.0.0.1'));
    assert.ok(cidrContains(parseCidr('0.0.0.0/0')!, '8.8.8.8'));
    assert.ok(cidrContains(parseCidr('::/0')!, '2001::1'));
    assert.ok(!cidrContains(parseCidr('::/0')!, '8.8.8.8'));
  });

  test('property: a network contains every address sharing its prefix bits, and no other', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (a, b, len) => {
        const c = parseCidr(`${a}/${len}`)!;
        const toN = (s: string): number => s.split('.').reduce((x, o) => x * 256 + Number(o), 0);
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        const same = ((toN(a) & mask) >>> 0) === ((toN(b) & mask) >>> 0);
        assert.equal(cidrContains(c, b), same);
        assert.ok(cidrContains(c, a));
        assert.equal(createIpMatcher([`${a}/${len}`]).matches(b), same);
        assert.equal(createIpMatcher([`${a}/${len}`]).matches(`::ffff:${b}`), same);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: IPv6 networks contain their own addresses; formatCidr round-trips', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), (a, len) => {
        const c = parseCidr(`${a}/${len}`)!;
        assert.ok(c);
        assert.ok(cidrContains(c, a));
        assert.deepEqual(parseCidr(formatCidr(c)), c);
        assert.ok(createIpMatcher([formatCidr(c)]).matches(a));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('createIpMatcher', () => {
  test('empty list matches nothing', () => {
    const m = createIpMatcher([]);
    assert.ok(!m.matches('1.2.3.4'));
    assert.ok(!m.matches('::1'));
  });
  test('mixed list', () => {
    const m = createIpMatcher(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32', '::1']);
    assert.ok(m.matches('10.9.9.9'));
    assert.ok(m.matches('192.168.1.5'));
    assert.ok(!m.matches('192.168.1.6'));
    assert.ok(m.matches('::ffff:192.168.1.5'));
    assert.ok(m.matches('2001:db8::5'));
    assert.ok(m.matches('::1'));
    assert.ok(m.matches('0:0::1'));
    assert.ok(!m.matches('::2'));
    assert.ok(!m.matches('fe80::1'));
    assert.ok(!m.matches('not-an-ip'));
    assert.ok(!m.matches('010.0.0.1'));
  });
  test('rejects invalid entries', () => {
    assert.throws(() => createIpMatcher(['10.0.0.0/40']), { code: 'SW_CONFIG_INVALID' });
  });
  test('fast enough for the capture path', () => {
    const m = createIpMatcher(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '2001:db8::/32']);
    const t0 = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < 200_000; i++) if (m.matches(`203.0.${i & 255}.${(i >> 8) & 255}`)) hits++;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(hits, 0);
    assert.ok(ms < 2000, `200k lookups took ${ms} ms`);
  });
});
