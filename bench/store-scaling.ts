/**
 * `npm run bench -- store-scaling`: how the cost of one `honey` insert grows with the table, with and without
 * SentryPeer's `event_uuid_index` (random UUIDv4 keys, so every insert lands on a random index leaf). Direct
 * better-sqlite3 inserts in 1,000-row transactions with the store's pragmas, on a temp file; the "without" run
 * is the baseline. Prints rows/s per 200,000-row step up to BENCH_ROWS (default 1,200,000).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newUuid } from '../src/events/event.js';
import { MIGRATIONS } from '../src/store/schema.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_200_000);
const STEP = 200_000;
const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-scaling-'));
const message = 'OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n' + 'X-Pad: abcdef\r\n'.repeat(30);

function run(withUuidIndex: boolean): number[] {
  const db = new Database(join(dir, `${withUuidIndex ? 'with' : 'without'}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -16384');
  db.pragma('wal_autocheckpoint = 10000');
  for (const m of MIGRATIONS) db.exec(m.sql);
  if (!withUuidIndex) db.exec('DROP INDEX event_uuid_index');
  const insert = db.prepare(`INSERT INTO honey (event_timestamp, event_uuid, collected_method, source_ip, called_number,
    transport_type, method, user_agent, sip_message, created_by_node_id, destination_ip, source_port, destination_port,
    event_time_us, origin, response_code, source_verified)
    VALUES ('2026-11-25 16:00:00.000000000', ?, 'responsive', ?, '100', 'UDP', 'OPTIONS', 'friendly-scanner', ?, 'node',
    '192.0.2.1', 5060, 5060, ?, 'local', 200, 0)`);
  const batch = db.transaction((from: number) => {
    for (let i = from; i < from + 1000; i++) insert.run(newUuid(), `198.51.100.${i % 64}`, message, i);
  });
  const rates: number[] = [];
  let t0 = performance.now();
  for (let n = 0; n < ROWS; n += 1000) {
    batch(n);
    if ((n + 1000) % STEP === 0) {
      rates.push(STEP / ((performance.now() - t0) / 1000));
      t0 = performance.now();
    }
  }
  db.close();
  return rates;
}

try {
  const without = run(false);
  const withIndex = run(true);
  console.log('rows in table   without event_uuid_index   with it (rows/s)   ratio');
  for (let k = 0; k < withIndex.length; k++) {
    console.log(
      `${String((k + 1) * STEP).padStart(12)}   ${without[k]!.toFixed(0).padStart(24)}   ${withIndex[k]!.toFixed(0).padStart(16)}   ${(withIndex[k]! / without[k]!).toFixed(2)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
