// Conformance: cursor paging while new rows keep arriving. Every row that existed when paging started is returned
// exactly once; rows that arrive meanwhile never cause a duplicate (newest-first lists) and, oldest-first, are
// returned once each if they arrive before the end is reached.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HoneypotEvent } from '../../../src/events/event.js';
import { makeEvent } from '../helpers.js';
import { BACKENDS, type StoreUnderTest } from './backends.js';

const T0 = 1_764_000_000_000_000;
let seq = 0;

/** `n` events; every third shares its time with the previous one (ties are ordered by the store's row id). */
function events(n: number, from: number, ip?: (i: number) => string): HoneypotEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const k = seq++;
    return makeEvent({ eventTimeUs: from + Math.floor(i - (i % 3 === 2 ? 1 : 0)) * 10, sourceIp: ip ? ip(k) : '192.0.2.1' });
  });
}

async function fill(s: StoreUnderTest, ev: HoneypotEvent[]): Promise<void> {
  for (const e of ev) s.store.append(e);
  await s.store.flush();
}

for (const backend of BACKENDS) {
  describe(`conformance cursor paging: ${backend.name}`, { timeout: 30_000 }, () => {
    test('events newest first: pages interleaved with inserts (newer and older-than-cursor) miss and repeat nothing', async () => {
      const s = await backend.open();
      try {
        const before = events(300, T0);
        await fill(s, before);
        const seen: string[] = [];
        let cursor: string | undefined;
        let round = 0;
        do {
          const page = s.reader.events({ order: 'desc', limit: 17, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((i) => i.event_uuid as string));
          cursor = page.next_cursor ?? undefined;
          // New rows arrive between pages, newer than everything (the usual case) and, written concurrently with
          // the reader, not yet committed when the page was read.
          const more = events(7, T0 + 1_000_000 + round++ * 100);
          for (const e of more) s.store.append(e);
          if (round % 2) await s.store.flush();
        } while (cursor);
        await s.store.flush();
        assert.equal(new Set(seen).size, seen.length, 'a row was returned twice');
        const want = new Set(before.map((e) => e.eventUuid));
        assert.deepEqual(seen.filter((u) => want.has(u)).sort(), [...want].sort());
        assert.equal(seen.length, want.size, 'rows newer than the first page leaked into later pages');
      } finally {
        await s.close();
      }
    });

    test('events oldest first: rows arriving during paging are returned once each, after the old ones', async () => {
      const s = await backend.open();
      try {
        const before = events(200, T0);
        await fill(s, before);
        const added: HoneypotEvent[] = [];
        const seen: string[] = [];
        let cursor: string | undefined;
        let round = 0;
        do {
          const page = s.reader.events({ order: 'asc', limit: 13, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((i) => i.event_uuid as string));
          cursor = page.next_cursor ?? undefined;
          if (round < 10) {
            const more = events(5, T0 + 1_000_000 + round++ * 100);
            added.push(...more);
            await fill(s, more);
              }
        } while (cursor);
        assert.equal(new Set(seen).size, seen.length, 'a row was returned twice');
        assert.deepEqual(seen, [...before, ...added].map((e) => e.eventUuid).slice(0, seen.length));
        assert.equal(seen.length, before.length + added.length);
      } finally {
        await s.close();
      }
    });

    test('ip-address list paged while new sources arrive: every earlier source once, none twice', async () => {
      const s = await backend.open();
      try {
        const ip = (k: number): string => `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
        const before = events(240, T0, ip);
        await fill(s, before);
        const seen: string[] = [];
        let cursor: string | undefined;
        let round = 0;
        do {
          const page = s.reader.ipAddresses({ details: false, limit: 11, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((i) => i.ip as string));
          cursor = page.next_cursor ?? undefined;
          await fill(s, events(4, T0 + 1_000_000 + round++ * 100, ip));
        } while (cursor);
        assert.equal(new Set(seen).size, seen.length, 'an address was returned twice');
        const want = before.map((e) => e.sourceIp);
        assert.deepEqual(seen.filter((x) => want.includes(x)).sort(), [...want].sort());
      } finally {
        await s.close();
      }
    });

    test('a cursor from another list or a mangled one is refused as invalid', async () => {
      const s = await backend.open();
      try {
        await fill(s, events(5, T0, (k) => `192.0.2.${k % 200}`));
        const c = s.reader.events({ order: 'desc', limit: 2 }).next_cursor!;
        assert.ok(c);
        const foreign = s.reader.ipAddresses({ details: false, limit: 1 }).next_cursor!;
        assert.ok(foreign);
        const tampered = Buffer.from(Buffer.from(c, 'base64url').toString().replace(/:(\d+)$/, ':x$1')).toString('base64url');
        for (const bad of [tampered, 'garbage!', '', s.reader.events({ order: 'asc', limit: 2 }).next_cursor!, foreign]) {
          assert.throws(() => s.reader.events({ order: 'desc', limit: 2, cursor: bad }), (e: Error & { kind?: string }) => e.kind === 'invalid', bad);
        }
      } finally {
        await s.close();
      }
    });
  });
}
