/** The BGP feed's routing decisions (pure). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RoutePolicy, type RouteSettings } from '../../src/bgp/routes.js';

const base: RouteSettings = {
  nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: true,
  aggregateMin: 0, maxRoutes: 100_000, allowPrefixes: [],
};
const at = (ip: string, t = 1000): { ip: string; lastHitMs: number } => ({ ip, lastHitMs: t });

describe('BGP routes', () => {
  test('announce and withdraw lines carry the next hop, BLACKHOLE, NO_EXPORT and large communities', () => {
    const p = new RoutePolicy({ ...base, largeCommunities: ['64512:1:2'], communities: ['65535:666', '64512:100'] });
    const r = p.routes([at('8.8.4.4'), at('2a00:1450::1')]);
    assert.deepEqual([...r.keys()], ['8.8.4.4/32', '2a00:1450::1/128']);
    assert.equal(p.announce(r.get('8.8.4.4/32')!), 'announce route 8.8.4.4/32 next-hop 192.0.2.1 community [65535:666 64512:100 no-export] large-community [64512:1:2]');
    assert.equal(p.announce(r.get('2a00:1450::1/128')!), 'announce route 2a00:1450::1/128 next-hop 100::1 community [65535:666 64512:100 no-export] large-community [64512:1:2]');
    assert.equal(p.withdraw(r.get('8.8.4.4/32')!), 'withdraw route 8.8.4.4/32 next-hop 192.0.2.1');
    const noExp = new RoutePolicy({ ...base, noExport: false });
    assert.equal(noExp.announce(noExp.routes([at('8.8.4.4')]).get('8.8.4.4/32')!), 'announce route 8.8.4.4/32 next-hop 192.0.2.1 community [65535:666]');
  });

  test('special-purpose ranges are refused unless allowed; loopback, link-local and multicast never', () => {
    const refused: [string, string][] = [];
    const p = new RoutePolicy(base);
    const r = p.routes(['10.1.2.3', '192.168.1.1', '172.16.0.9', '100.64.0.1', '198.51.100.7', '203.0.113.5', '127.0.0.1', '169.254.1.1',
      '224.0.0.5', '::1', 'fe80::1', 'fc00::1', '2001:db8::1', '8.8.8.8'].map((ip) => at(ip)), (ip, why) => refused.push([ip, why]));
    assert.deepEqual([...r.keys()], ['8.8.8.8/32']);
    assert.equal(refused.length, 13);
    assert.deepEqual(refused.filter(([, w]) => w === 'never').map(([ip]) => ip).sort(), ['127.0.0.1', '169.254.1.1', '224.0.0.5', '::1', 'fe80::1'].sort());
    const lab = new RoutePolicy({ ...base, allowPrefixes: ['198.51.100.0/24', '127.0.0.0/8'] });
    assert.deepEqual([...lab.routes([at('198.51.100.7'), at('127.0.0.1')]).keys()], ['198.51.100.7/32']);
  });

  test('/24 aggregation from N addresses; the cap keeps the newest last hits', () => {
    const p = new RoutePolicy({ ...base, aggregateMin: 3 });
    const r = p.routes([at('8.8.8.1', 1), at('8.8.8.2', 5), at('8.8.8.3', 3), at('9.9.9.9', 2)]);
    assert.deepEqual([...r.keys()].sort(), ['8.8.8.0/24', '9.9.9.9/32']);
    assert.equal(r.get('8.8.8.0/24')!.lastHitMs, 5);
    const capped: string[] = [];
    const c = new RoutePolicy({ ...base, maxRoutes: 2 });
    const rc = c.routes([at('8.8.8.1', 1), at('8.8.8.2', 5), at('8.8.8.3', 3), at('2a00::1', 1)], (ip, why) => why === 'max_routes' && capped.push(ip));
    assert.deepEqual([...rc.keys()].sort(), ['2a00::1/128', '8.8.8.2/32', '8.8.8.3/32']);
    assert.deepEqual(capped, ['8.8.8.1']);
  });

  test('applying the diff to what is held always gives what is wanted (property)', () => {
    const p = new RoutePolicy({ ...base, maxRoutes: 5, aggregateMin: 3 });
    const ip = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 })).map(([a, b]) => `8.8.${a}.${b}`);
    fc.assert(fc.property(fc.array(fc.tuple(ip, fc.nat(100))), fc.array(fc.tuple(ip, fc.nat(100))), (a, b) => {
      const held = p.routes(a.map(([x, t]) => at(x, t)));
      const wanted = p.routes(b.map(([x, t]) => at(x, t)));
      const d = p.diff(held, wanted);
      const result = new Map(held);
      for (const r of d.withdrawn) result.delete(r.prefix);
      for (const r of d.announced) result.set(r.prefix, r);
      assert.deepEqual([...result.keys()].sort(), [...wanted.keys()].sort());
      assert.equal(d.commands.length, d.withdrawn.length + d.announced.length);
      assert.ok(d.commands.slice(0, d.withdrawn.length).every((c) => c.startsWith('withdraw ')));
    }), { numRuns: 500 });
  });
});
