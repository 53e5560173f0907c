import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createSqliteStore, type SqliteStoreInit } from '../../src/store/sqlite.js';

export { makeEvent } from './make-event.js';

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'sipwarden-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function newMetrics(): Metrics {
  return new Metrics({ processMetrics: false });
}

export const silent = createLogger('silent');

export function openStore(path: string, over: Partial<SqliteStoreInit> = {}) {
  const metrics = over.metrics ?? newMetrics();
  const store = createSqliteStore({ path, metrics, logger: silent, ...over });
  return { store, metrics };
}

/** Number of committed store batches so far (one histogram observation per batch). */
export async function batchCount(metrics: Metrics): Promise<number> {
  const v = (await metrics.storeBatchSeconds.get()).values.find((x) => x.metricName === 'sipwarden_store_batch_seconds_count');
  return v?.value ?? 0;
}

export async function counterValue(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}

/** Polls `cond` every 5 ms until true or `ms` elapsed; returns whether it became true. */
export async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}
