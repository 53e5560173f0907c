// SentryPeer databases migrate in place; 0-byte files are new; newer schemas are refused untouched.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ERROR_CODES, SipwardenError } from '../../src/errors.js';
import { openAndMigrate, runMigrations } from '../../src/store/migrate.js';
import { MIGRATIONS, SCHEMA_VERSION, SENTRYPEER_SCHEMA_SQL } from '../../src/store/schema.js';
import { makeEvent, openStore, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const SP_COLUMNS = ['honey_id', 'event_timestamp', 'event_uuid', 'collected_method', 'source_ip', 'called_number',
  'transport_type', 'method', 'user_agent', 'sip_message', 'created_by_node_id', 'created_at'];

// SentryPeer 4.0.x's exact insert (sqlite.c: insert_bad_actor), created_at left to its DEFAULT.
const SP_INSERT = `INSERT INTO honey (event_timestamp,   event_uuid, collected_method, source_ip,   called_number, transport_type, method,   user_agent, sip_message, created_by_node_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);`;

function makeSentryPeerDb(path: string, rows: number): void {
  const db = new Database(path);
  db.exec(SENTRYPEER_SCHEMA_SQL);
  const ins = db.prepare(SP_INSERT);
  const node = 'a1b2c3d4-0000-4000-8000-00000000abcd';
  for (let i = 0; i < rows; i++) {
    ins.run(
      `2026-11-24 17:48:${String(10 + (i % 50)).padStart(2, '0')}.${6076728 + i}`, // SP: local time, unpadded ns
      `0b7a9d0e-5c1f-4e5a-9a3b-${String(i).padStart(12, '0')}`,
      'passive',
      i % 3 === 0 ? '203.0.113.5' : '198.51.100.9',
      i % 2 === 0 ? '0046812118532' : '100',
      'UDP',
      i % 4 === 0 ? 'OPTIONS' : 'INVITE',
      i % 5 === 0 ? 'NOT_FOUND' : 'friendly-scanner',
      `OPTIONS sip:100@1.2.3.4 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK${i}\r\n\r\n`,
      node,
    );
  }
  // A row with NULLs where SP could leave them, and one with an explicit odd created_at.
  db.prepare('INSERT INTO honey (event_timestamp, source_ip) VALUES (NULL, NULL)').run();
  db.prepare("INSERT INTO honey (event_timestamp, event_uuid, source_ip, created_at) VALUES ('x', 'u', '192.0.2.1', '2026-01-02 03:04:05.678')").run();
  db.close();
}

function snapshot(db: Database.Database): string[] {
  const cols = SP_COLUMNS.map((c) => `typeof(${c}) || ':' || coalesce(hex(${c}), 'NULL')`).join(` || '|' || `);
  return (db.prepare(`SELECT ${cols} AS s FROM honey ORDER BY honey_id`).all() as { s: string }[]).map((r) => r.s);
}

describe('SentryPeer database migration', { timeout: 60_000 }, () => {
  test('migrates in place: backup, no row lost, SP columns byte-identical, legacy origin, aggregates, SP insert still works', async () => {
    const path = join(tmp.dir, 'sentrypeer.db');
    makeSentryPeerDb(path, 120);
    const ro = new Database(path, { readonly: true });
    const before = snapshot(ro);
    const createdAt = (ro.prepare('SELECT honey_id, created_at FROM honey ORDER BY honey_id').all() as { honey_id: number; created_at: string }[]);
    ro.close();
    assert.equal(before.length, 122);

    const { store } = openStore(path);
    await store.start();
    try {
      const backups = readdirSync(tmp.dir).filter((f) => /^sentrypeer\.db\.pre-sipwarden-\d{8}T\d{6}Z\.bak$/.test(f));
      assert.equal(backups.length, 1, `backup missing: ${readdirSync(tmp.dir).join(',')}`);
      const bak = new Database(join(tmp.dir, backups[0]!), { readonly: true });
      assert.deepEqual(snapshot(bak), before);
      assert.equal(bak.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sipwarden_migrations'").get(), undefined);
      bak.close();

      const db = store.db;
      assert.deepEqual(snapshot(db), before);
      const cols = (db.prepare('PRAGMA table_info(honey)').all() as { name: string }[]).map((c) => c.name);
      assert.deepEqual(cols.slice(0, 12), SP_COLUMNS);
      assert.deepEqual(cols.slice(12), ['destination_ip', 'source_port', 'destination_port', 'called_number_e164', 'request_uri_user',
        'to_user', 'event_time_us', 'origin', 'origin_peer_id', 'response_code', 'sip_message_raw', 'source_country', 'source_city', 'source_verified',
        'source_asn', 'source_org']);
      const idx = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'honey' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      for (const i of ['source_ip_index', 'called_number_index', 'event_uuid_index', 'honey_event_time_us_index', 'honey_called_number_e164_index']) assert.ok(idx.includes(i), i);
      const legacy = db.prepare('SELECT honey_id, origin, event_time_us FROM honey ORDER BY honey_id').all() as { honey_id: number; origin: string; event_time_us: number }[];
      for (let i = 0; i < legacy.length; i++) {
        assert.equal(legacy[i]!.origin, 'legacy');
        const expectUs = Math.round(Date.parse(createdAt[i]!.created_at.replace(' ', 'T') + 'Z') * 1000);
        assert.equal(legacy[i]!.event_time_us, expectUs, `row ${i}`);
      }
      const ver = (db.prepare('SELECT MAX(version) AS v FROM sipwarden_migrations').get() as { v: number }).v;
      assert.equal(ver, SCHEMA_VERSION);
      // Aggregates backfilled from the legacy rows.
      const ip = db.prepare("SELECT event_count FROM ip_stats WHERE ip = '203.0.113.5'").get() as { event_count: number };
      assert.equal(ip.event_count, 40);
      assert.equal((db.prepare("SELECT event_count FROM ip_stats WHERE ip = '198.51.100.9'").get() as { event_count: number }).event_count, 80);
      assert.equal((db.prepare("SELECT event_count FROM number_stats WHERE called_number = '100'").get() as { event_count: number }).event_count, 60);
      assert.equal((db.prepare("SELECT event_count FROM method_stats WHERE method = 'OPTIONS'").get() as { event_count: number }).event_count, 30);

      // New events on top of legacy aggregates: counts continue, the legacy number gets classified once.
      store.append(makeEvent({ sourceIp: '203.0.113.5' }));
      await store.flush();
      assert.equal((db.prepare("SELECT event_count FROM ip_stats WHERE ip = '203.0.113.5'").get() as { event_count: number }).event_count, 41);
      const num = db.prepare("SELECT event_count, country, number_type FROM number_stats WHERE called_number = '0046812118532'").get();
      assert.deepEqual(num, { event_count: 61, country: 'SE', number_type: 'fixed' });
    } finally {
      await store.stop();
    }
    // SentryPeer can still write the migrated file with its own INSERT.
    const sp = new Database(path);
    sp.prepare(SP_INSERT).run('2026-11-24 18:00:00.1', 'sp-after', 'passive', '192.0.2.77', '100', 'UDP', 'OPTIONS', 'x', 'y', 'n');
    assert.equal((sp.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 124);
    sp.close();
    // And sipwarden reopens it again without re-running migrations or making a second backup.
    const again = openStore(path);
    await again.store.start();
    assert.equal((again.store.db.prepare('SELECT COUNT(*) AS c FROM sipwarden_migrations').get() as { c: number }).c, MIGRATIONS.length);
    await again.store.stop();
    assert.equal(readdirSync(tmp.dir).filter((f) => f.includes('.pre-sipwarden-')).length, 1);
  });

  test('an empty SentryPeer database migrates without a backup', () => {
    const path = join(tmp.dir, 'sp-empty.db');
    makeSentryPeerDb(path, 0);
    new Database(path).exec('DELETE FROM honey').close();
    const { db, report } = openAndMigrate(path);
    db.close();
    assert.equal(report.fromSentryPeer, true);
    assert.equal(report.backupPath, null);
  });

  test('a 0-byte file is a new database', async () => {
    const path = join(tmp.dir, 'zero.db');
    writeFileSync(path, '');
    const { store } = openStore(path);
    await store.start();
    store.append(makeEvent());
    await store.flush();
    assert.equal((store.db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 1);
    await store.stop();
    assert.equal(readdirSync(tmp.dir).filter((f) => f.startsWith('zero.db.pre-')).length, 0);
  });

  test('a newer schema version is refused and the file is left byte for byte untouched', async () => {
    for (const wal of [false, true]) {
      const path = join(tmp.dir, `newer-${wal}.db`);
      const db = new Database(path);
      if (wal) db.pragma('journal_mode = WAL');
      runMigrations(db);
      db.prepare("INSERT INTO sipwarden_migrations (version, name, applied_at) VALUES (?, 'future', 'x')").run(SCHEMA_VERSION + 1);
      db.close();
      const bytes = readFileSync(path);
      const { store } = openStore(path);
      await assert.rejects(store.start(), (err: unknown) => err instanceof SipwardenError && err.code === ERROR_CODES.STORE_SCHEMA_TOO_NEW && err.exitCode === 1);
      assert.ok(readFileSync(path).equals(bytes), 'file changed');
      assert.equal(existsSync(path + '-wal') && readFileSync(path + '-wal').length > 0, false);
      await store.stop();
    }
  });

  test('a file that is not a database → STORE_OPEN_FAILED', async () => {
    const path = join(tmp.dir, 'garbage.db');
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    const { store } = openStore(path);
    await assert.rejects(store.start(), (err: unknown) => err instanceof SipwardenError && err.code === ERROR_CODES.STORE_OPEN_FAILED);
  });

  test('ADD COLUMN is skipped for columns that already exist (idempotent re-run)', () => {
    const path = join(tmp.dir, 'partial.db');
    const db = new Database(path);
    db.exec(SENTRYPEER_SCHEMA_SQL);
    db.exec('ALTER TABLE honey ADD COLUMN destination_ip TEXT; ALTER TABLE honey ADD COLUMN origin TEXT;');
    db.close();
    const { db: m } = openAndMigrate(path);
    const cols = (m.prepare('PRAGMA table_info(honey)').all() as { name: string }[]).map((c) => c.name);
    assert.equal(cols.filter((c) => c === 'destination_ip').length, 1);
    assert.equal(cols.length, 28);
    // Re-running every migration from scratch on the migrated file is a no-op, not an error.
    m.exec('DELETE FROM sipwarden_migrations');
    assert.deepEqual(runMigrations(m), MIGRATIONS.map((x) => x.version));
    m.close();
  });
});
