/** The BGP feed's routing decisions (pure). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NLRI_PER_COMMAND, RoutePolicy, type RouteSettings } from '../../src/bgp/routes.js';

const base: RouteSettings = {
  nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: true,
  aggregateMin: 0, maxRoutes: 100_000, allowPrefixes: [],
};
const at = (ip: string, t = 1000): { ip: string; lastHitMs: number } => ({ ip, lastHitMs: t });

describe('BGP routes', () => {
  test('announce and withdraw commands carry the next hop, BLACKHOLE, NO_EXPORT and large communities', () => {
    const p = new RoutePolicy({ ...base, largeCommunities: ['64512:1:2'], communities: ['65535:666', '64512:100'] });
    const r = p.routes([at('8.8.4.4'), at('2a00:1450::1')]);
    assert.deepEqual([...r.keys()], ['8.8.4.4/32', '2a00:1450::1/128']);
    assert.deepEqual(p.announce(r.values()), [
      'announce attributes next-hop 192.0.2.1 community [65535:666 64512:100 no-export] large-community [64512:1:2] nlri 8.8.4.4/32',
      'announce attributes next-hop 100::1 community [65535:666 64512:100 no-export] large-community [64512:1:2] nlri 2a00:1450::1/128',
    ]);
    assert.deepEqual(p.withdraw(r.values()), ['withdraw attributes next-hop 192.0.2.1 nlri 8.8.4.4/32', 'withdraw attributes next-hop 100::1 nlri 2a00:1450::1/128']);
    const noExp = new RoutePolicy({ ...base, noExport: false });
    assert.deepEqual(noExp.announce(noExp.routes([at('8.8.4.4')]).values()), ['announce attributes next-hop 192.0.2.1 community [65535:666] nlri 8.8.4.4/32']);
    assert.deepEqual(p.announce([]), []);
  });

  test(`commands hold at most ${NLRI_PER_COMMAND} prefixes of one family, every route exactly once (property)`, () => {
    const p = new RoutePolicy(base);
    const route = fc.oneof(
      fc.ipV4().map((ip) => ({ prefix: `${ip}/32`, family: 4 as const, lastHitMs: 0 })),
      fc.ipV6().map((ip) => ({ prefix: `${ip}/128`, family: 6 as const, lastHitMs: 0 })),
    );
    fc.assert(fc.property(fc.uniqueArray(route, { maxLength: 300, selector: (r) => r.prefix }), (routes) => {
      for (const [cmds, head] of [[p.announce(routes), /^announce attributes next-hop (\S+) community \[65535:666 no-export\] nlri (.+)$/], [p.withdraw(routes), /^withdraw attributes next-hop (\S+) nlri (.+)$/]] as const) {
        const seen: string[] = [];
        for (const c of cmds) {
          const m = head.exec(c);
          assert.ok(m, c);
          const prefixes = m[2]!.split(' ');
          assert.ok(prefixes.length >= 1 && prefixes.length <= NLRI_PER_COMMAND);
          const v6 = m[1] === '100::1';
          assert.ok(prefixes.every((x) => x.endsWith(v6 ? '/128' : '/32')), c);
          seen.push(...prefixes);
        }
        assert.deepEqual(seen.sort(), routes.map((r) => r.prefix).sort());
        const n4 = routes.filter((r) => r.family === 4).length;
        assert.equal(cmds.length, Math.ceil(n4 / NLRI_PER_COMMAND) + Math.ceil((routes.length - n4) / NLRI_PER_COMMAND));
      }
    }), { numRuns: 200 });
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
});
