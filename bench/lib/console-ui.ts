/**
 * Dashboard part of `npm run bench -- console`: first load of `/ui/` to every chart and the map drawn, in the system
 * Chromium, against an API over a database of 1,000,000 events (written through the store's own batch writer, so the
 * console aggregates are what the daemon would have kept), with an empty database as the baseline in the same run.
 * Also the `/api/v1/overview` answer time at both sizes. Loopback only.
 */
import { chromium, type Browser } from 'playwright-core';
import { createApiServer } from '../../src/api/server.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { apiConfig } from '../../test/api/harness.js';
import { createTestDb, toEvent, type TestDb } from '../../test/api/seed.js';
import { ConsoleWriter } from '../../src/store/console.js';

const TOKEN = 'bench-token';
const EVENTS = Number(process.env.SIPWARDEN_BENCH_CONSOLE_EVENTS ?? 1_000_000);
const RUNS = 5;
const COUNTRIES = ['US', 'CN', 'RU', 'DE', 'FR', 'GB', 'NL', 'BR', 'IN', 'VN', 'KR', 'JP', 'SE', 'PL', 'UA', 'TR', 'IR', 'ID', 'EG', 'ZA'];

/** Fills `tdb` with `n` events over the last 7 days: 50,000 sources, 20,000 numbers, 40 user agents. */
function fill(tdb: TestDb, n: number): number {
  const nowUs = Date.now() * 1000;
  const span = 7 * 24 * 3600 * 1_000_000;
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const t0 = performance.now();
  for (let done = 0; done < n;) {
    const batch = [];
    for (let i = 0; i < 1000 && done < n; i++, done++) {
      const src = Math.floor(rnd() ** 2 * 50_000);
      const e = toEvent({
        sourceIp: `${1 + (src >> 16)}.${(src >> 8) & 255}.${src & 255}.${1 + (src % 200)}`,
        calledNumber: String(100 + Math.floor(rnd() ** 3 * 20_000)),
        userAgent: `scanner-${Math.floor(rnd() ** 2 * 40)}`,
        method: ['OPTIONS', 'INVITE', 'REGISTER', 'OPTIONS', 'INVITE', 'ACK'][Math.floor(rnd() * 6)],
        timeUs: nowUs - Math.floor(rnd() * span),
        e164: null,
      });
      e.sourceCountry = COUNTRIES[src % COUNTRIES.length]!;
      e.sourceAsn = 1000 + (src % 300);
      e.sourceOrg = `AS org ${src % 300}`;
      batch.push(e);
    }
    tdb.writer.write(batch);
  }
  return (performance.now() - t0) / 1000;
}

/** Median of first loads (fresh browser context: nothing cached) to `data-ready=true`, in ms. */
async function firstLoad(browser: Browser, origin: string): Promise<{ median: number; all: number[] }> {
  const all: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // The token as a logged-in tab has it; the page's own clock marks the moment both charts and the map are drawn
    // (navigation start = 0), so the browser driver's round trips are not counted.
    await ctx.addInitScript(`sessionStorage.setItem('sipwarden.token', ${JSON.stringify(TOKEN)});
      new MutationObserver((_, o) => {
        if (document.querySelector('[data-ready=true] [data-testid=world-map]')) { window.__ready = performance.now(); o.disconnect(); }
      }).observe(document, { subtree: true, childList: true, attributes: true });`);
    const page = await ctx.newPage();
    await page.goto(`${origin}/ui/`);
    await page.waitForSelector('[data-testid=overview][data-ready=true] [data-testid=world-map]', { timeout: 60_000 });
    all.push(await page.evaluate(() => (globalThis as unknown as { __ready: number }).__ready));
    await ctx.close();
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, all };
}

async function overviewMs(origin: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const r = await fetch(`${origin}/api/v1/overview`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await r.text();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[10]!;
}

async function measure(browser: Browser, tdb: TestDb): Promise<{ load: { median: number; all: number[] }; overview: number }> {
  const api = createApiServer({ config: apiConfig({ apiTokens: [TOKEN] }), dbPath: tdb.path, metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
  await api.start();
  try {
    const origin = `http://127.0.0.1:${api.addresses()[0]!.port}`;
    await firstLoad(browser, origin); // warm-up (the API worker's connection, the OS page cache)
    return { load: await firstLoad(browser, origin), overview: await overviewMs(origin) };
  } finally {
    await api.stop();
  }
}

/**
 * What the console aggregates add to the writer: a whole 1,000-event batch transaction against the aggregates' own
 * share of it (the same events folded by a second ConsoleWriter in its own transaction), µs per event.
 */
function writerShare(): void {
  const tdb = createTestDb('sipwarden-bench-ui-w-');
  try {
    const extra = new ConsoleWriter(tdb.db);
    const nowUs = Date.now() * 1000;
    const mk = (b: number) => Array.from({ length: 1000 }, (_, i) => {
      const e = toEvent({ sourceIp: `198.51.${(b * 7 + i) % 200}.${i % 250}`, calledNumber: String(100 + ((b * 13 + i) % 5000)), userAgent: `ua-${i % 30}`, timeUs: nowUs - i * 1000, e164: null });
      e.sourceCountry = COUNTRIES[i % COUNTRIES.length]!;
      e.sourceAsn = 1000 + (i % 300);
      return e;
    });
    for (let b = 0; b < 5; b++) tdb.writer.write(mk(b)); // warm-up
    let whole = 0;
    let share = 0;
    const B = 40;
    for (let b = 0; b < B; b++) {
      const batch = mk(b + 5);
      let t0 = performance.now();
      tdb.writer.write(batch);
      whole += performance.now() - t0;
      t0 = performance.now();
      tdb.db.transaction(() => extra.write(batch, nowUs))();
      share += performance.now() - t0;
    }
    console.log(`writer: ${((whole * 1000) / (B * 1000)).toFixed(1)} µs per event for the whole batch transaction, of which the console aggregates ≈ ${((share * 1000) / (B * 1000)).toFixed(1)} µs (${((share / whole) * 100).toFixed(0)} %)`);
  } finally {
    tdb.close();
  }
}

/** Runs the dashboard bench and prints its figures. */
export async function runUiBench(): Promise<void> {
  writerShare();
  const browser = await chromium.launch({ executablePath: process.env.SIPWARDEN_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const empty = createTestDb('sipwarden-bench-ui-');
  const big = createTestDb('sipwarden-bench-ui-');
  try {
    const secs = fill(big, EVENTS);
    console.log(`filled ${EVENTS.toLocaleString('en-US')} events through the batch writer in ${secs.toFixed(1)} s`);
    // Baseline and full back to back, after the long fill, so both see the same machine.
    const base = await measure(browser, empty);
    const full = await measure(browser, big);
    const fmt = (x: { median: number; all: number[] }): string => `${x.median.toFixed(0)} ms median (${x.all.map((v) => v.toFixed(0)).join(', ')})`;
    console.log(`dashboard first load to all charts and the map drawn, empty database: ${fmt(base.load)}`);
    console.log(`dashboard first load to all charts and the map drawn, ${EVENTS.toLocaleString('en-US')} events: ${fmt(full.load)} — ratio ${(full.load.median / base.load.median).toFixed(2)}x; target ≤ 1500 ms: ${full.load.median <= 1500 ? 'met' : 'NOT met'}`);
    console.log(`/api/v1/overview median: ${base.overview.toFixed(1)} ms empty, ${full.overview.toFixed(1)} ms at ${EVENTS.toLocaleString('en-US')} events`);
  } finally {
    await browser.close();
    empty.close();
    big.close();
  }
}
