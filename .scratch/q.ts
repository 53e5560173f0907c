import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { makeEvent } from '../test/store/make-event.js';
import { qualifyingIpsQuery } from '../src/store/block-facts.js';
import { DEFAULT_BLOCK_POLICY, Exclusions } from '../src/enforce/policy.js';
const N = Number(process.argv[2] ?? 100000);
const dir = mkdtempSync(join(tmpdir(), 'swq-'));
const log = createLogger('warn');
const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const store = createSqliteStore({ path: join(dir, 'a.db'), metrics: new Metrics({ processMetrics: false }), logger: log });
await store.start();
for (let i = 0; i < N; i++) { store.append(makeEvent({ sourceIp: ipOf(i + 1), transport: 'TCP', sourceVerified: true })); if (i % 5000 === 4999) await store.flush(); }
await store.flush();
const db = store.db;
const q = qualifyingIpsQuery(DEFAULT_BLOCK_POLICY, Date.now() * 1000);
console.log(q.sql);
console.log(db.prepare('EXPLAIN QUERY PLAN ' + q.sql).all(...q.args));
let t = performance.now(); let n = 0;
for (const r of db.prepare(q.sql).raw().iterate(...q.args)) n++;
console.log('query', n, (performance.now() - t).toFixed(0), 'ms');
const ex = new Exclusions();
t = performance.now();
for (let i = 0; i < N; i++) ex.reason(ipOf(i + 1));
console.log('exclusions', (performance.now() - t).toFixed(0), 'ms');
for (const idx of [
  'CREATE INDEX i1 ON ip_stats (MAX(local_verified_last_us, peer_verified_last_us))',
  'CREATE INDEX i1 ON ip_stats (MAX(local_verified_last_us, peer_verified_last_us), local_verified_hits + peer_verified_hits, ip)',
]) {
  db.exec('DROP INDEX IF EXISTS i1'); t = performance.now(); db.exec(idx); console.log(idx, 'build', (performance.now()-t).toFixed(0));
  db.exec('ANALYZE');
  console.log(db.prepare('EXPLAIN QUERY PLAN ' + q.sql).all(...q.args).map((r: any) => r.detail));
  for (let k = 0; k < 2; k++) { t = performance.now(); n = 0; for (const r of db.prepare(q.sql).raw().iterate(...q.args)) n++; console.log('query', n, (performance.now() - t).toFixed(0), 'ms'); }
}
await store.stop();
