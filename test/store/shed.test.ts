// Rows may be shed under overload, counts may not: events the store cannot write as rows (backlog full) are still
// counted per source and per called number in ip_stats / number_stats, by reason in the metrics, and summarised
// once a second in the JSON log.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLogObserver } from '../../src/sinks/json-log.js';
import { NOT_STORED_TYPE, ShedAccounting, SUMMARY_SOURCES_LISTED, TALLY_MAP_BYTES, type NotStoredSummary } from '../../src/store/shed.js';
import { counterValue, makeEvent, openStore, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const NUMBERS = ['100', '0046812118532', '+441632960001', 'NOT_FOUND', '200'];

async function shedValue(metrics: ReturnType<typeof openStore>['metrics'], label: string, value: string): Promise<number> {
  const m = metrics.registry.getSingleMetric(label === 'reason' ? 'sipwarden_store_rows_shed_total' : 'sipwarden_store_uncounted_total')!;
  const got = await m.get();
  return got.values.filter((v) => v.labels[label] === value).reduce((a, v) => a + v.value, 0);
}

for (const writer of ['worker', 'main'] as const) {
  describe(`shed rows are still counted (${writer} writer)`, { timeout: 60_000 }, () => {
    test('a flood into a full backlog: ip_stats and number_stats count every event, the metric and the JSON log say what was shed', async () => {
      const path = join(tmp.dir, `shed-${writer}.db`);
      const logPath = join(tmp.dir, `shed-${writer}.log`);
      const { store, metrics } = openStore(path, { writer, batchMaxEvents: 100, maxBacklog: 300 });
      store.addBatchObserver(jsonLogObserver(logPath));
      await store.start();
      const sentBySource = new Map<string, number>();
      const sentByNumber = new Map<string, number>();
      let total = 0;
      const send = (i: number): void => {
        const ip = `192.0.2.${10 + (i * 7) % 50}`;
        const n = NUMBERS[i % NUMBERS.length]!;
        store.append(makeEvent({ sourceIp: ip, calledNumber: n, calledNumberE164: n.startsWith('+') ? n : null, sourceVerified: i % 97 === 0 }));
        sentBySource.set(ip, (sentBySource.get(ip) ?? 0) + 1);
        sentByNumber.set(n, (sentByNumber.get(n) ?? 0) + 1);
        total++;
      };
      try {
        for (let i = 0; i < 20; i++) send(i);
        await store.flush();
        // The database stops taking rows ("disk full"): the backlog fills and everything beyond it is shed.
        const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
        await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
        for (let i = 20; i < 5020; i++) send(i);
        // A second wave spread over more than a second, so there is more than one summary line.
        await new Promise((r) => setTimeout(r, 1100));
        for (let i = 5020; i < 6020; i++) send(i);
        await store.writerPragma('max_page_count = 1073741823');
        await store.flush();
        const db = store.db;
        const rows = (db.prepare('SELECT COUNT(*) AS n FROM honey').get() as { n: number }).n;
        const shed = total - rows;
        assert.ok(shed >= 5000, `only ${shed} shed`);
        assert.equal(await shedValue(metrics, 'reason', 'backlog_events'), shed);
        assert.equal(await counterValue(metrics.storeDropped), shed);
        assert.equal(await shedValue(metrics, 'table', 'ip_stats'), 0);
        // Every event counted per source and per number, whether or not it has a row.
        const ips = new Map((db.prepare('SELECT ip, event_count FROM ip_stats').all() as { ip: string; event_count: number }[]).map((r) => [r.ip, r.event_count]));
        assert.deepEqual(ips, sentBySource);
        const nums = new Map((db.prepare('SELECT called_number, event_count FROM number_stats').all() as { called_number: string; event_count: number }[]).map((r) => [r.called_number, r.event_count]));
        assert.deepEqual(nums, sentByNumber);
        // A number seen first in shed events is still classified once.
        const classified = db.prepare("SELECT number_type FROM number_stats WHERE called_number = '+441632960001'").get() as { number_type: string };
        assert.ok(classified.number_type !== null);
        // first/last seen cover the shed events too.
        const last = db.prepare("SELECT last_seen_us FROM ip_stats ORDER BY last_seen_us DESC LIMIT 1").get() as { last_seen_us: number };
        const lastRow = db.prepare('SELECT MAX(event_time_us) AS t FROM honey').get() as { t: number };
        assert.ok(last.last_seen_us > lastRow.t);
        const verified = db.prepare('SELECT COUNT(*) AS n FROM ip_stats WHERE verified = 1').get() as { n: number };
        assert.ok(verified.n > 0);
      } finally {
        await store.stop();
      }
      // The JSON log: event lines for what it could hold, summary lines for what has no row.
      const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const summaries = lines.filter((l) => l.type === NOT_STORED_TYPE) as unknown as NotStoredSummary[];
      const events = lines.filter((l) => l.type === undefined);
      assert.ok(summaries.length >= 2, `${summaries.length} summary lines`);
      for (const s of summaries) {
        assert.equal((s as unknown as Record<string, unknown>).event_uuid, undefined);
        assert.match(s.interval_start, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}$/);
        assert.ok(s.interval_end >= s.interval_start);
        assert.equal(Object.values(s.sources).reduce((a, b) => a + b, 0) + s.events_of_unlisted_sources + s.events_of_untracked_sources, s.events_not_stored);
        assert.equal(Object.values(s.reasons).reduce((a, b) => a + (b ?? 0), 0), s.events_not_stored);
      }
      const notStored = summaries.reduce((a, s) => a + s.events_not_stored, 0);
      const notLogged = summaries.reduce((a, s) => a + s.events_not_logged, 0);
      const db2 = openStore(path, { writer: 'main' });
      await db2.store.start();
      try {
        const rows = (db2.store.db.prepare('SELECT COUNT(*) AS n FROM honey').get() as { n: number }).n;
        assert.equal(notStored, total - rows);
        // Per source: rows + summary counts = events sent.
        const rowsBySource = new Map((db2.store.db.prepare('SELECT source_ip, COUNT(*) AS n FROM honey GROUP BY source_ip').all() as { source_ip: string; n: number }[]).map((r) => [r.source_ip, r.n]));
        for (const [ip, sent] of sentBySource) {
          const inSummaries = summaries.reduce((a, s) => a + (s.sources[ip] ?? 0), 0);
          assert.equal((rowsBySource.get(ip) ?? 0) + inSummaries, sent, ip);
        }
        // Every event is either an event line or counted as not logged.
        assert.equal(events.length + notLogged, total);
      } finally {
        await db2.store.stop();
      }
    });
  });
}

test('the tally is bounded: beyond its keys, events are counted as uncounted, never guessed', { timeout: 60_000 }, async () => {
  const path = join(tmp.dir, 'bound.db');
  const { store, metrics } = openStore(path, { writer: 'worker', batchMaxEvents: 10, maxBacklog: 10, maxTallyKeys: 25 });
  await store.start();
  try {
    store.append(makeEvent());
    await store.flush();
    const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
    await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
    // 1,000 distinct spoofed sources, one number.
    for (let i = 0; i < 1000; i++) store.append(makeEvent({ sourceIp: `10.0.${i >> 8}.${i & 255}`, calledNumber: '100' }));
    await store.writerPragma('max_page_count = 1073741823');
    await store.flush();
  } finally {
    await store.stop();
  }
  const again = openStore(path, { writer: 'main' });
  await again.store.start();
  try {
    const sum = (again.store.db.prepare('SELECT SUM(event_count) AS n FROM ip_stats').get() as { n: number }).n;
    const uncountedIp = await shedValue(metrics, 'table', 'ip_stats');
    assert.ok(uncountedIp > 0, 'no overflow counted');
    // Counted + honestly uncounted = every event.
    assert.equal(sum + uncountedIp, 1001);
    assert.equal(await shedValue(metrics, 'table', 'number_stats'), 0);
    const n = (again.store.db.prepare("SELECT event_count FROM number_stats WHERE called_number = '100'").get() as { event_count: number }).event_count;
    assert.equal(n, 1000);
  } finally {
    await again.store.stop();
  }
});

test('summary lines list the largest sources first, bounded, and account for the rest', () => {
  const acc = new ShedAccounting(1000);
  let k = 0;
  for (let s = 0; s < 150; s++) for (let i = 0; i <= s; i++) acc.add(makeEvent({ sourceIp: `198.51.100.${s}`, eventTimeUs: 1_000 + k++ }), 'backlog_bytes', i % 2 === 0);
  const sum = acc.takeSummary()!;
  assert.equal(sum.type, NOT_STORED_TYPE);
  assert.equal(Object.keys(sum.sources).length, SUMMARY_SOURCES_LISTED);
  assert.equal(sum.sources['198.51.100.149'], 150);
  assert.equal(sum.sources['198.51.100.0'], undefined);
  assert.equal(sum.sources_total, 150);
  assert.equal(sum.events_not_stored, (150 * 151) / 2);
  assert.deepEqual(sum.reasons, { backlog_bytes: (150 * 151) / 2 });
  assert.equal(sum.events_of_unlisted_sources, (50 * 51) / 2);
  assert.equal(sum.events_of_untracked_sources, 0);
  assert.equal(acc.takeSummary(), null);
  const t = acc.take()!;
  assert.equal(t.events, (150 * 151) / 2);
  assert.equal(t.ips.length, 150);
  assert.equal(acc.take(), null);
});

test('the tally is bounded in bytes too: kilobyte-long spoofed numbers cannot grow it past its budget', () => {
  const acc = new ShedAccounting(1_000_000);
  const long = 'x'.repeat(4000);
  for (let i = 0; i < 5000; i++) acc.add(makeEvent({ sourceIp: '203.0.113.9', calledNumber: `${i}${long}` }), 'backlog_events', true);
  const fits = Math.floor(TALLY_MAP_BYTES / (200 + 2 * (4000 + 4)));
  const o = acc.takeOverflow();
  assert.equal(o.ip_stats, 0);
  assert.ok(o.number_stats >= 5000 - fits - 10 && o.number_stats <= 5000 - fits + 10, String(o.number_stats));
  const t = acc.take()!;
  assert.equal(t.ips[0]!.count, 5000);
  assert.equal(t.numbers.length + o.number_stats, 5000);
});
