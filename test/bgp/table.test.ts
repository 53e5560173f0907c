/**
 * The incremental route table against the whole-set statement of the policy (RoutePolicy.routes): after any
 * sequence of adds, refreshes, removes and snapshots, applying the flushed deltas to what ExaBGP holds gives
 * exactly the routes the policy wants, with the cap and /24 aggregation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RoutePolicy, type RefusalReason, type Route, type RouteSettings } from '../../src/bgp/routes.js';
import { RouteTable } from '../../src/bgp/table.js';

const base: RouteSettings = {
  nextHop4: '192.0.2.1', nextHop6: '100::1', communities: ['65535:666'], largeCommunities: [], noExport: true,
  aggregateMin: 0, maxRoutes: 100_000, allowPrefixes: [],
};
const keys = (m: Iterable<Route>): string[] => [...m].map((r) => r.prefix).sort();

type Op = { kind: 'set'; ip: string; t: number } | { kind: 'remove'; ip: string } | { kind: 'snapshot'; entries: [string, number][] } | { kind: 'flush' };

describe('BGP route table (incremental)', () => {
  const ip = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 })).map(([a, b]) => `8.8.${a}.${b}`),
    fc.integer({ min: 1, max: 6 }).map((n) => `2a00::${n}`),
    fc.constantFrom('10.0.0.1', '127.0.0.1', 'fe80::1'),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), ip, t: fc.nat(20) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), ip }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), entries: fc.array(fc.tuple(ip, fc.nat(20)), { maxLength: 12 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
  );

  test('flushed deltas always bring ExaBGP to what the whole-set policy wants (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.constantFrom(0, 2, 3), fc.array(op, { maxLength: 60 }), (maxRoutes, aggregateMin, ops) => {
      const policy = new RoutePolicy({ ...base, maxRoutes, aggregateMin });
      const table = new RouteTable(policy);
      const blocked = new Map<string, number>();
      const exabgp = new Map<string, Route>();
      const flush = (): void => {
        const d = table.flush();
        const w = new Set(d.withdrawn.map((r) => r.prefix));
        for (const r of d.announced) assert.ok(!w.has(r.prefix), `${r.prefix} both withdrawn and announced`);
        for (const r of d.withdrawn) assert.ok(exabgp.delete(r.prefix), `${r.prefix} withdrawn but not held`);
        for (const r of d.announced) {
          assert.ok(!exabgp.has(r.prefix), `${r.prefix} announced twice`);
          exabgp.set(r.prefix, r);
        }
        const want = policy.routes([...blocked].map(([a, t]) => ({ ip: a, lastHitMs: t })));
        assert.deepEqual([...exabgp.keys()].sort(), [...want.keys()].sort());
        assert.deepEqual(keys(table.held().values()), [...want.keys()].sort());
        assert.deepEqual(keys(table.wanted()), [...want.keys()].sort());
        for (const f of [4, 6] as const) assert.equal(table.count(f), [...want.values()].filter((r) => r.family === f).length);
      };
      for (const o of ops) {
        if (o.kind === 'set') {
          blocked.set(o.ip, o.t);
          table.set(o.ip, o.t);
        } else if (o.kind === 'remove') {
          blocked.delete(o.ip);
          table.remove(o.ip);
        } else if (o.kind === 'snapshot') {
          blocked.clear();
          for (const [a, t] of o.entries) blocked.set(a, t);
          table.replaceAll([...blocked].map(([a, t]) => ({ ip: a, lastHitMs: t })));
        } else flush();
      }
      flush();
      // A resync (ExaBGP restarted) hands over exactly the wanted set.
      assert.deepEqual(keys(table.resync()), keys(table.wanted()));
    }), { numRuns: 400 });
  });

  test('refusals: special-purpose and never-announced addresses, and routes pushed out by the cap', () => {
    const refused: [string, RefusalReason][] = [];
    const table = new RouteTable(new RoutePolicy({ ...base, maxRoutes: 2 }), (a, why) => refused.push([a, why]));
    for (const [a, t] of [['10.1.1.1', 1], ['127.0.0.1', 1], ['8.8.8.1', 1], ['8.8.8.2', 2], ['8.8.8.3', 3]] as const) table.set(a, t);
    assert.deepEqual(refused, [['10.1.1.1', 'special_purpose'], ['127.0.0.1', 'never'], ['8.8.8.1', 'max_routes']]);
    assert.deepEqual(keys(table.flush().announced), ['8.8.8.2/32', '8.8.8.3/32']);
    // An older hit than every route inside stays out (counted once); room freed brings the newest waiting one in.
    table.set('8.8.8.4', 0);
    table.set('8.8.8.4', 0);
    assert.equal(refused.filter(([, w]) => w === 'max_routes').length, 2);
    table.remove('8.8.8.3');
    assert.deepEqual(table.flush(), { withdrawn: [{ prefix: '8.8.8.3/32', family: 4, lastHitMs: 3 }], announced: [{ prefix: '8.8.8.1/32', family: 4, lastHitMs: 1 }] });
    // A refreshed route moves ahead: 8.8.8.4 now newest, the oldest inside (8.8.8.1) leaves.
    table.set('8.8.8.4', 9);
    const d = table.flush();
    assert.deepEqual([keys(d.withdrawn), keys(d.announced)], [['8.8.8.1/32'], ['8.8.8.4/32']]);
  });

  test('a change to a large table touches only its own routes', () => {
    const table = new RouteTable(new RoutePolicy({ ...base, maxRoutes: 100_000 }));
    const addr = (i: number): string => `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < 100_000; i++) table.set(addr(i), i);
    assert.equal(table.resync().length, 100_000);
    // Over the cap: the new address evicts exactly the oldest one.
    table.set(addr(100_000), 100_000);
    let d = table.flush();
    assert.deepEqual([keys(d.withdrawn), keys(d.announced)], [[`${addr(0)}/32`], [`${addr(100_000)}/32`]]);
    table.remove(addr(5));
    d = table.flush();
    // The slot freed goes back to the newest address waiting outside: the one just evicted.
    assert.deepEqual([keys(d.withdrawn), keys(d.announced)], [[`${addr(5)}/32`], [`${addr(0)}/32`]]);
    assert.deepEqual(table.flush(), { withdrawn: [], announced: [] });
  });
});
