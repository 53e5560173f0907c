// Store micro-benchmark: events/s committed, batch latency p50/p99 and main-thread stall, for the worker and
// main-thread writers. Usage:
//   node --import tsx bench/store.ts [--writer worker|main] [--rate N|0] [--seconds S] [--dir D]
// --rate 0 appends as fast as the main thread can (saturation); otherwise appends N events/s in 1 ms slices.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { newEventUuid } from '../src/events/event.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { makeEvent } from '../test/store/make-event.js';

const { values } = parseArgs({
  options: {
    writer: { type: 'string', default: 'worker' },
    rate: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '5' },
    dir: { type: 'string' },
    backlog: { type: 'string', default: '200000' },
  },
});
const writer = values.writer === 'main' ? 'main' : 'worker';
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'sipwarden-bench-store-'));
const path = join(dir, 'bench.db');

const ips = Array.from({ length: 1000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
const pool = Array.from({ length: 20_000 }, (_, i) =>
  makeEvent({ sourceIp: ips[i % ips.length]!, calledNumber: String(1000 + (i % 300)), calledNumberE164: null }));

const batches: number[] = [];
const metrics = new Metrics({ processMetrics: false });
const store = createSqliteStore({
  path, metrics, logger: createLogger('warn'), writer, maxBacklog: Number(values.backlog),
  onBatch: (_n, s) => batches.push(s * 1000),
});
await store.start();

const lag = monitorEventLoopDelay({ resolution: 1 });
lag.enable();
let appended = 0;
let i = 0;
const t0 = performance.now();
const end = t0 + seconds * 1000;
await new Promise<void>((resolve) => {
  const step = (): void => {
    const now = performance.now();
    if (now >= end) { resolve(); return; }
    const target = rate > 0 ? Math.floor(((now - t0) / 1000) * rate) : appended + 2000;
    while (appended < target) {
      const e = pool[i++ % pool.length]!;
      store.append({ ...e, eventUuid: newEventUuid() });
      appended++;
    }
    if (rate > 0) setTimeout(step, 1); else setImmediate(step);
  };
  step();
});
const tAppendEnd = performance.now();
const backlogAtEnd = store.queueDepth;
await store.flush();
const tDone = performance.now();
lag.disable();
await store.stop();
const dropped = (await metrics.storeDropped.get()).values[0]?.value ?? 0;
batches.sort((a, b) => a - b);
const pct = (p: number): number => batches[Math.min(batches.length - 1, Math.floor((p / 100) * batches.length))] ?? 0;
const committed = appended - dropped;
console.log(JSON.stringify({
  writer, offeredRate: rate || 'max', seconds, appended, dropped, committed,
  appendRate: Math.round(appended / ((tAppendEnd - t0) / 1000)),
  committedPerSec: Math.round(committed / ((tDone - t0) / 1000)),
  backlogAtEnd, drainMs: Math.round(tDone - tAppendEnd),
  batches: batches.length, batchP50ms: +pct(50).toFixed(2), batchP99ms: +pct(99).toFixed(2), batchMaxMs: +(batches.at(-1) ?? 0).toFixed(2),
  mainLoopMaxStallMs: +(lag.max / 1e6).toFixed(1), mainLoopP99Ms: +(lag.percentile(99) / 1e6).toFixed(1),
}));
if (!values.dir) rmSync(dir, { recursive: true, force: true });
