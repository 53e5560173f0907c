// Conformance: the aggregates the API lists (sources, numbers, user agents, methods, totals) count exactly what was
// appended, across several batches, with first/last seen from the events' times.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HoneypotEvent } from '../../../src/events/event.js';
import { rfc3339 } from '../../../src/text/time.js';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

const T0 = 1_764_000_000_000_000; // 2025-11-24, µs

/** Batch `b` of `n` events: sources, numbers, agents and methods cycle with different periods. */
function batch(b: number, n: number): HoneypotEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const k = b * n + i;
    return makeEvent({
      eventTimeUs: T0 + k * 1000,
      sourceIp: k % 3 === 0 ? '2001:db8::3' : `198.51.100.${k % 5}`,
      calledNumber: `00468121185${k % 4}`, calledNumberE164: `+468121185${k % 4}`,
      userAgent: ['friendly-scanner', 'sipvicious', 'Z 🦓'][k % 3]!,
      method: ['INVITE', 'REGISTER', 'OPTIONS', 'INVITE'][k % 4]!,
      transport: k % 2 ? 'UDP' : 'TCP',
      sourceVerified: k === 7,
    });
  });
}

/** The counts, first and last times an aggregate over `key` must hold. */
function expected(events: HoneypotEvent[], key: (e: HoneypotEvent) => string): Map<string, { count: number; first: number; last: number }> {
  const m = new Map<string, { count: number; first: number; last: number }>();
  for (const e of events) {
    const k = key(e);
    const v = m.get(k) ?? { count: 0, first: Infinity, last: -Infinity };
    v.count++;
    v.first = Math.min(v.first, e.eventTimeUs);
    v.last = Math.max(v.last, e.eventTimeUs);
    m.set(k, v);
  }
  return m;
}

function asMap(items: Record<string, unknown>[], key: string): Map<string, { count: number; first: string; last: string }> {
  return new Map(items.map((i) => [i[key] as string, { count: i.count as number, first: i.first_seen as string, last: i.last_seen as string }]));
}

function same(got: Map<string, { count: number; first: string; last: string }>, want: Map<string, { count: number; first: number; last: number }>): void {
  assert.deepEqual(
    Object.fromEntries(got),
    Object.fromEntries([...want].map(([k, v]) => [k, { count: v.count, first: rfc3339(v.first), last: rfc3339(v.last) }])),
  );
}

for (const backend of BACKENDS) {
  describe(`conformance aggregates: ${backend.name}`, { timeout: 30_000 }, () => {
    test('ip, number, user-agent and method stats count every event of every batch', async () => {
      const s = await backend.open();
      try {
        const all: HoneypotEvent[] = [];
        for (let b = 0; b < 4; b++) {
          const ev = batch(b, 250);
          for (const e of ev) s.store.append(e);
          all.push(...ev);
          await s.store.flush();
        }
        const ips = s.reader.ipAddresses({ details: true, limit: 100 });
        assert.equal(ips.next_cursor, null);
        same(asMap(ips.items, 'ip'), expected(all, (e) => e.sourceIp));
        const v6 = ips.items.find((i) => i.ip === '2001:db8::3')!;
        assert.deepEqual(v6.methods, [...new Set(all.filter((e) => e.sourceIp === '2001:db8::3').map((e) => e.method))].sort());
        assert.deepEqual(v6.transports, ['TCP', 'UDP']);
        assert.equal(v6.distinct_numbers, 4);
        // Verified once stays verified.
        assert.deepEqual(ips.items.filter((i) => i.verified === true).map((i) => i.ip), [all[7]!.sourceIp]);

        const nums = s.reader.numbers({ details: true, limit: 100 });
        same(asMap(nums.items, 'called_number'), expected(all, (e) => e.calledNumber));
        for (const n of nums.items) assert.equal(n.called_number_e164, `+${(n.called_number as string).slice(2)}`);

        same(asMap(s.reader.userAgents({ limit: 100 }).items, 'user_agent'), expected(all, (e) => e.userAgent));
        same(asMap(s.reader.methods(), 'method'), expected(all, (e) => e.method));

        const stats = s.reader.stats(1, T0) as { totals: Record<string, number> };
        assert.deepEqual(stats.totals, {
          events: 1000, events_stored: 1000, ip_addresses: 6, verified_ip_addresses: 1, numbers: 4, user_agents: 3, credentials: 0,
        });
        // Lookups (SentryPeer-style) agree with the lists.
        assert.equal(s.reader.ipExists('2001:db8::3'), true);
        assert.equal(s.reader.ipExists('198.51.100.9'), false);
        assert.equal(s.reader.numberExists('004681211850', []), true);
        assert.equal(s.reader.numberExists('nope', ['+4681211853']), true);
        assert.equal(s.reader.userAgentExists('Z 🦓'), true);
        assert.equal(s.reader.methodExists('BYE'), false);
      } finally {
        await s.close();
      }
    });

    test('aggregates keep the earliest first-seen and latest last-seen when events arrive out of time order', async () => {
      const s = await backend.open();
      try {
        const ip = '203.0.113.77';
        const times = [T0 + 5_000_000, T0 + 1_000_000, T0 + 9_000_000, T0 + 3_000_000];
        for (const t of times) {
          s.store.append(makeEvent({ sourceIp: ip, eventTimeUs: t, userAgent: 'ooo' }));
          await s.store.flush(); // one batch each
        }
        const [item] = s.reader.ipAddresses({ details: false, limit: 10, source: { ip } }).items;
        assert.deepEqual([item?.count, item?.first_seen, item?.last_seen], [4, rfc3339(T0 + 1_000_000), rfc3339(T0 + 9_000_000)]);
        const [ua] = s.reader.userAgents({ limit: 10, q: 'ooo' }).items;
        assert.deepEqual([ua?.count, ua?.first_seen, ua?.last_seen], [4, rfc3339(T0 + 1_000_000), rfc3339(T0 + 9_000_000)]);
      } finally {
        await s.close();
      }
    });
  });
}
