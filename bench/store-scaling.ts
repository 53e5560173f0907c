/**
 * `npm run bench -- store-scaling`: how the cost of one `honey` insert grows with the table, for the three ways
 * `event_uuid` can be indexed: no `event_uuid_index` at all (the baseline), SentryPeer's index over random UUIDv4
 * values (what rows from SentryPeer and sipwarden before UUIDv7 carry), and the same index over the UUIDv7 values
 * new events get. Direct better-sqlite3 inserts in 1,000-row transactions with the store's pragmas, on a temp file.
 * The three tables are filled in turn, one 1,000-row transaction each, so load from other work on a shared machine
 * hits all three alike and the ratios stay comparable. Prints rows/s per BENCH_STEP-row step (default 500,000) up
 * to BENCH_ROWS (default 5,000,000); the run stops after the step in which BENCH_SECONDS (default 540) passed.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEventUuid, newUuid } from '../src/events/event.js';
import { MIGRATIONS } from '../src/store/schema.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 5_000_000);
const STEP = Number(process.env.BENCH_STEP ?? 500_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 540);
const dir = mkdtempSync(join(tmpdir(), 'sipwarden-bench-scaling-'));
const message = 'OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n' + 'X-Pad: abcdef\r\n'.repeat(30);

type Variant = { name: string; index: boolean; uuid: () => string };
const all: (Variant & { id: string })[] = [
  { id: 'base', name: 'no event_uuid_index', index: false, uuid: newEventUuid },
  { id: 'v4', name: 'index, UUIDv4', index: true, uuid: newUuid },
  { id: 'v7', name: 'index, UUIDv7', index: true, uuid: newEventUuid },
];
/** BENCH_VARIANTS=base,v7 leaves the slow UUIDv4 column out, to reach larger tables in the same time. */
const wanted = (process.env.BENCH_VARIANTS ?? 'base,v4,v7').split(',');
const variants: Variant[] = all.filter((v) => v.id === 'base' || wanted.includes(v.id));

interface Table { insert: (from: number) => void; db: Database.Database; file: string; ms: number; rates: number[] }

function open(v: Variant, k: number): Table {
  const file = join(dir, `v${k}.db`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -16384');
  db.pragma('wal_autocheckpoint = 10000');
  for (const m of MIGRATIONS) db.exec(m.sql);
  if (!v.index) db.exec('DROP INDEX event_uuid_index');
  const insert = db.prepare(`INSERT INTO honey (event_timestamp, event_uuid, collected_method, source_ip, called_number,
    transport_type, method, user_agent, sip_message, created_by_node_id, destination_ip, source_port, destination_port,
    event_time_us, origin, response_code, source_verified)
    VALUES ('2026-11-25 16:00:00.000000000', ?, 'responsive', ?, '100', 'UDP', 'OPTIONS', 'friendly-scanner', ?, 'node',
    '192.0.2.1', 5060, 5060, ?, 'local', 200, 0)`);
  const batch = db.transaction((from: number) => {
    for (let i = from; i < from + 1000; i++) insert.run(v.uuid(), `198.51.100.${i % 64}`, message, i);
  });
  return { insert: batch, db, file, ms: 0, rates: [] };
}

/** Fills the tables in turn; returns each one's rows/s per step (time spent in its own transactions only). */
function run(): { rates: number[]; mb: number }[] {
  const tables = variants.map((v, k) => open(v, k));
  const start = performance.now();
  for (let n = 0; n < ROWS; n += 1000) {
    for (const t of tables) {
      const t0 = performance.now();
      t.insert(n);
      t.ms += performance.now() - t0;
    }
    if ((n + 1000) % STEP === 0) {
      for (const t of tables) { t.rates.push(STEP / (t.ms / 1000)); t.ms = 0; }
      console.error(`  ${n + 1000} rows: ${tables.map((t, k) => `${variants[k]!.name} ${t.rates[t.rates.length - 1]!.toFixed(0)}/s`).join(', ')}`);
      if ((performance.now() - start) / 1000 > SECONDS) break;
    }
  }
  return tables.map((t) => {
    t.db.close();
    const mb = statSync(t.file).size / 1e6;
    rmSync(t.file, { force: true });
    return { rates: t.rates, mb };
  });
}

try {
  const results = run();
  const base = results[0]!.rates;
  console.log(`rows in table   ${variants.map((v) => v.name.padStart(20)).join('   ')}   ${variants.slice(1).map((v) => `${v.name.slice(7)}/base`).join('   ')}   (rows/s)`);
  const steps = Math.max(...results.map((r) => r.rates.length));
  const cell = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(0)).padStart(20);
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '—' : (a / b).toFixed(2)).padStart(7);
  for (let s = 0; s < steps; s++) {
    const r = results.map((x) => x.rates[s]);
    console.log(`${String((s + 1) * STEP).padStart(13)}   ${r.map(cell).join('   ')}   ${r.slice(1).map((x) => ratio(x, base[s])).join('   ')}`);
  }
  console.log(`file size at the end (MB): ${results.map((r) => r.mb.toFixed(0)).join(' / ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
