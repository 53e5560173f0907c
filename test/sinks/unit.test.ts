import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { toJsonLogLine } from '../../src/events/json-log.js';
import { createSinkQueue } from '../../src/sinks/queue.js';
import { jsonLogObserver } from '../../src/sinks/json-log.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import {
  createSyslogSink,
  escapeSyslogField,
  formatSyslogLine,
  parseSyslogTarget,
  syslogTimestamp,
} from '../../src/sinks/syslog.js';
import { backoffMs, parseRetryAfter, webhookSignature } from '../../src/sinks/webhook.js';
import { createHmac } from 'node:crypto';
import { makeEvent, metricValue, quietLogger, quietMetrics } from './helpers.js';

describe('sink queue', () => {
  test('bounded by count: overflow drops and counts, drain processes in order', async () => {
    const m = quietMetrics();
    const seen: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = createSinkQueue<number>({
      name: 't', metrics: m, logger: quietLogger(), sizeOf: () => 1, maxItems: 5, maxBatch: 2,
      process: async (b) => { await gate; seen.push(...b); },
    });
    for (let i = 0; i < 5; i++) assert.equal(q.offer(i), true);
    assert.equal(q.offer(99), false);
    assert.equal(await metricValue(m, 'sipwarden_sink_dropped_total', { sink: 't' }), 1);
    assert.equal(await metricValue(m, 'sipwarden_sink_queue_depth', { sink: 't' }), 5);
    release();
    await q.stop();
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(q.offer(7), false, 'stopped queue refuses');
  });

  test('bounded by bytes', async () => {
    const m = quietMetrics();
    const q = createSinkQueue<string>({
      name: 'b', metrics: m, logger: quietLogger(), sizeOf: (s) => s.length, maxBytes: 10,
      process: () => new Promise((r) => setTimeout(r, 20)),
    });
    assert.equal(q.offer('12345'), true);
    assert.equal(q.offer('12345'), true);
    assert.equal(q.offer('1'), false);
    await q.stop();
  });

  test('a throwing consumer does not stop the queue', async () => {
    const m = quietMetrics();
    const got: number[] = [];
    const q = createSinkQueue<number>({
      name: 'x', metrics: m, logger: quietLogger(), sizeOf: () => 1, maxBatch: 1,
      process: (b) => { if (b[0] === 1) throw new Error('boom'); got.push(...b); },
    });
    [0, 1, 2].forEach((i) => q.offer(i));
    await q.drain();
    assert.deepEqual(got, [0, 2]);
    assert.equal(await metricValue(m, 'sipwarden_sink_errors_total', { sink: 'x' }), 1);
  });
});

describe('syslog format', () => {
  test('timestamp: English month, space-padded day, local time', () => {
    assert.equal(syslogTimestamp(new Date(2026, 10, 4, 7, 8, 9)), 'Nov  4 07:08:09');
    assert.equal(syslogTimestamp(new Date(2026, 0, 24, 17, 48, 52)), 'Jan 24 17:48:52');
  });

  test('local line is exactly the syslog format, udp adds host and drops the newline', () => {
    const e = makeEvent();
    const now = new Date(2026, 10, 24, 17, 48, 52);
    assert.equal(
      formatSyslogLine(e, { ident: 'sipwarden', pid: 1557, now }),
      '<13>Nov 24 17:48:52 sipwarden[1557]: Source IP: 203.0.113.7, Method: OPTIONS, Agent: sipsak 0.9.8.1\n',
    );
    assert.equal(
      formatSyslogLine(e, { ident: 'sentrypeer', pid: 1, now, hostname: 'hp1' }),
      '<13>Nov 24 17:48:52 hp1 sentrypeer[1]: Source IP: 203.0.113.7, Method: OPTIONS, Agent: sipsak 0.9.8.1',
    );
  });

  test('no attacker text can produce a control character or line separator (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (ua, method) => {
        const line = formatSyslogLine(makeEvent({ userAgent: ua, method }), { ident: 'sipwarden', pid: 1, now: new Date() });
        const body = line.slice(0, -1);
        // eslint-disable-next-line no-control-regex
        assert.ok(!/[\x00-\x1f\x7f\u0085\u2028\u2029]/.test(body), JSON.stringify(body));
        assert.ok(line.endsWith('\n'));
        // The method stays one word without commas, so `Method: \S+` (the filter) always matches.
        assert.match(body, /^<13>.{15} sipwarden\[1\]: Source IP: 203\.0\.113\.7, Method: [^\s,]+, Agent: /);
      }),
      { numRuns: 500 },
    );
    // Idempotent on the already-escaped stored user agent.
    assert.equal(escapeSyslogField('a\\x0d\\x0ab'), 'a\\x0d\\x0ab');
    assert.equal(escapeSyslogField('a\r\nb\x00\x1b'), 'a\\x0d\\x0ab\\x00\\x1b');
  });

  test('target parsing', () => {
    assert.deepEqual(parseSyslogTarget('/dev/log'), { kind: 'unix', path: '/dev/log' });
    assert.deepEqual(parseSyslogTarget('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseSyslogTarget('udp://127.0.0.1:514'), { kind: 'udp', host: '127.0.0.1', port: 514 });
    assert.deepEqual(parseSyslogTarget('udp://[::1]:5514'), { kind: 'udp', host: '::1', port: 5514 });
    assert.deepEqual(parseSyslogTarget('udp://logs.example:514'), { kind: 'udp', host: 'logs.example', port: 514 });
    for (const bad of ['tcp://h:1', 'udp://h', 'udp://h:0', 'udp://h:70000', 'log', 'unix:']) {
      assert.throws(() => parseSyslogTarget(bad), /syslog-target/);
    }
  });
});

describe('webhook helpers', () => {
  test('signature is HMAC-SHA256 over "<t>.<body>"', () => {
    const sig = webhookSignature('s3cret', '{"a":1}', 1700000000);
    const mac = createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex');
    assert.equal(sig, `t=1700000000,v1=${mac}`);
  });
  test('backoff doubles from 1 s to 10 min with ±20 % jitter', () => {
    assert.equal(backoffMs(1, 1000, 600000, () => 0.5), 1000);
    assert.equal(backoffMs(4, 1000, 600000, () => 0.5), 8000);
    assert.equal(backoffMs(30, 1000, 600000, () => 0.5), 600000);
    assert.equal(backoffMs(1, 1000, 600000, () => 0), 800);
    assert.equal(backoffMs(1, 1000, 600000, () => 1), 1200);
  });
  test('Retry-After: seconds and HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter(undefined), null);
    assert.equal(parseRetryAfter('soon'), null);
  });
});

describe('JSON log (a store batch observer)', () => {
  /** A sqlite store in `dir` with the JSON log registered, its writer in a worker thread or on the main thread. */
  async function storeWithLog(dir: string, logPath: string, writer: 'worker' | 'main') {
    const metrics = quietMetrics();
    const store = createSqliteStore({ path: join(dir, 'db.sqlite'), metrics, logger: quietLogger(), writer, batchMaxDelayMs: 20 });
    store.addBatchObserver(jsonLogObserver(logPath));
    await store.start();
    return { store, metrics };
  }
  const lines = (path: string): number => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0);
  async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      assert.ok(Date.now() - t0 < ms, what);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  for (const writer of ['worker', 'main'] as const) {
    test(`${writer} writer: one exact §10 line per event, mode 0640, reopen after rotation`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sw-jsonlog-'));
      try {
        const path = join(dir, 'sub', 'sipwarden_json.log');
        const { store, metrics } = await storeWithLog(dir, path, writer);
        const evs = [makeEvent(), makeEvent({ userAgent: 'evil\\x0d\\x0a', origin: 'peer', originPeerId: '12D3KooWx' })];
        for (const e of evs) store.append(e);
        // Visible within 1 s.
        await until(() => lines(path) >= 2, 1000, 'JSON log not written within 1 s');
        assert.equal(readFileSync(path, 'utf8'), evs.map(toJsonLogLine).join(''));
        assert.equal(statSync(path).mode & 0o777, 0o640);
        await store.flush();
        renameSync(path, path + '.1');
        store.reopenObservers();
        const e3 = makeEvent();
        store.append(e3);
        await store.stop();
        assert.equal(readFileSync(path, 'utf8'), toJsonLogLine(e3));
        assert.equal(lines(path + '.1'), 2);
        assert.equal(await metricValue(metrics, 'sipwarden_sink_delivered_total', { sink: 'json_log' }), 3);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('write errors are counted and reported, not fatal; the lines are held and written once the file can be written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-jsonlog-'));
    const origWrite = process.stderr.write.bind(process.stderr);
    let stderr = '';
    process.stderr.write = ((c: string | Uint8Array) => { stderr += String(c); return true; }) as typeof process.stderr.write;
    try {
      const path = join(dir, 'isdir');
      mkdirSync(path); // opening a directory for append fails (EISDIR)
      const { store, metrics } = await storeWithLog(dir, path, 'main');
      const first = makeEvent();
      store.append(first);
      await store.flush();
      assert.ok((await metricValue(metrics, 'sipwarden_sink_errors_total', { sink: 'json_log' })) >= 1);
      assert.equal(await metricValue(metrics, 'sipwarden_sink_dropped_total', { sink: 'json_log' }), 0, 'held, not dropped');
      assert.match(stderr, /sipwarden: error: json log .*isdir: EISDIR/);
      rmSync(path, { recursive: true });
      const e = makeEvent();
      store.append(e);
      await store.stop();
      assert.equal(readFileSync(path, 'utf8'), toJsonLogLine(first) + toJsonLogLine(e));
      // The store itself was never affected.
      assert.equal(await metricValue(metrics, 'sipwarden_store_write_errors_total'), 0);
    } finally {
      process.stderr.write = origWrite;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('events the store must drop (backlog full) are still in the JSON log, in order, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-jsonlog-'));
    try {
      const path = join(dir, 'sipwarden_json.log');
      const metrics = quietMetrics();
      const store = createSqliteStore({ path: join(dir, 'db.sqlite'), metrics, logger: quietLogger(), batchMaxDelayMs: 20, maxBacklog: 1000, batchMaxEvents: 100 });
      store.addBatchObserver(jsonLogObserver(path));
      await store.start();
      store.append(makeEvent());
      await store.flush();
      const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
      await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
      const evs = Array.from({ length: 3000 }, () => makeEvent({ sipMessage: 'x'.repeat(2000) }));
      // In slices across batch windows, as a flood arrives (the not-stored list holds one window, bounded).
      for (let i = 0; i < evs.length; i += 100) {
        for (const e of evs.slice(i, i + 100)) store.append(e);
        await new Promise((r) => setTimeout(r, 5));
      }
      await until(() => lines(path) >= 3001, 3000, 'dropped events not logged');
      assert.equal(await metricValue(metrics, 'sipwarden_store_dropped_total'), 2000);
      await store.writerPragma('max_page_count = 1073741823');
      await store.stop();
      const all = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event_uuid: string; type?: string; events_not_stored?: number });
      // Besides the events, summary lines (a `type` key, no event_uuid) say how many of them have no row.
      const summaries = all.filter((l) => l.type === 'sipwarden_events_not_stored');
      assert.equal(summaries.reduce((a, l) => a + l.events_not_stored!, 0), 2000);
      const logged = all.filter((l) => l.type === undefined).map((l) => l.event_uuid);
      assert.equal(logged.length, 3001, 'each event logged exactly once');
      assert.deepEqual(logged.slice(1), evs.map((e) => e.eventUuid), 'in arrival order');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failing database (disk full) does not hold the JSON log back, and no line is written twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-jsonlog-'));
    try {
      const path = join(dir, 'sipwarden_json.log');
      const { store, metrics } = await storeWithLog(dir, path, 'worker');
      store.append(makeEvent());
      await store.flush();
      const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
      await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
      const big = 'x'.repeat(60_000);
      const evs = Array.from({ length: 40 }, () => makeEvent({ sipMessage: big }));
      for (let i = 0; i < 20; i++) store.append(evs[i]!);
      // The batch fails and is retried; events appended meanwhile are logged all the same.
      await until(() => lines(path) >= 21, 2000, 'first failing batch not logged');
      for (let i = 20; i < 40; i++) store.append(evs[i]!);
      await until(() => lines(path) >= 41, 2000, 'events queued behind a failing batch not logged within 2 s');
      assert.ok((await metricValue(metrics, 'sipwarden_store_write_errors_total')) >= 1, 'the database did fail');
      await store.writerPragma('max_page_count = 1073741823');
      await store.stop();
      const logged = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { event_uuid: string }).event_uuid);
      assert.equal(logged.length, 41, 'each event logged exactly once across retries');
      assert.deepEqual(logged.slice(1), evs.map((e) => e.eventUuid), 'in order');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('isolation', () => {
  test('offer() stays fast with a missing syslog socket and an unreachable UDP target', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-iso-'));
    const m = quietMetrics();
    const sinks = [
      createSyslogSink({ target: `unix:${join(dir, 'missing.sock')}`, ident: 'sipwarden', metrics: m, logger: quietLogger() }),
      createSyslogSink({ target: 'udp://127.0.0.1:9', ident: 'sipwarden', metrics: m, logger: quietLogger() }),
    ];
    const origWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write; // silence the one-time warning
    try {
      for (const s of sinks) await s.start();
      const ev = makeEvent();
      const N = 20_000;
      const lat = new Float64Array(N);
      for (let i = 0; i < N; i++) {
        const a = process.hrtime.bigint();
        for (const s of sinks) s.offer(ev);
        lat[i] = Number(process.hrtime.bigint() - a) / 1000;
      }
      lat.sort();
      const median = lat[Math.floor(N / 2)]!;
      // A dead target costs nothing synchronously: offer() only enqueues. Speed itself belongs in the benchmark
      // (bench/sinks.ts); this bound is loose enough for a loaded CI machine yet far below any network wait.
      assert.ok(median < 200, `median offer() for 2 sinks ${median.toFixed(2)} µs`);
      for (const s of sinks) await s.stop();
      // The missing socket dropped (and counted) everything it got; the queue bound dropped the overflow.
      assert.ok((await metricValue(m, 'sipwarden_sink_dropped_total', { sink: 'syslog' })) >= N);
    } finally {
      process.stderr.write = origWrite;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
