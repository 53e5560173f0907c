import { statSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './schema.js';

/** What {@link openAndMigrate} did, for logging. */
export interface MigrationReport {
  /** The database was a SentryPeer one (honey without sipwarden_migrations). */
  fromSentryPeer: boolean;
  /** Path of the `VACUUM INTO` backup taken before migrating a SentryPeer database with rows. */
  backupPath: string | null;
  /** Versions applied by this run. */
  applied: number[];
}

/** `YYYYMMDDTHHMMSSZ` in UTC (the store schema backup name). */
function compactUtc(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

interface Inspection {
  isNew: boolean;
  sentryPeer: boolean;
  hasRows: boolean;
  version: number;
}

/** Read-only look at an existing file so a too-new or foreign database is never written to. */
function inspect(path: string): Inspection {
  if (path === ':memory:' || !existsSync(path) || statSync(path).size === 0) {
    return { isNew: true, sentryPeer: false, hasRows: false, version: 0 };
  }
  const ro = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const hasMigrations = tableExists(ro, 'sipwarden_migrations');
    const hasHoney = tableExists(ro, 'honey');
    const version = hasMigrations
      ? ((ro.prepare('SELECT MAX(version) AS v FROM sipwarden_migrations').get() as { v: number | null }).v ?? 0)
      : 0;
    const hasRows = hasHoney && ro.prepare('SELECT 1 FROM honey LIMIT 1').get() !== undefined;
    return { isNew: false, sentryPeer: hasHoney && !hasMigrations, hasRows, version };
  } finally {
    ro.close();
  }
}

/** Drops `ALTER TABLE t ADD COLUMN c …;` statements whose column already exists, so re-runs are idempotent. */
export function skipExistingColumns(db: Database.Database, sql: string): string {
  return sql.replace(/ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)[^;]*;/gi, (stmt, table: string, column: string) => {
    if (!tableExists(db, table)) return stmt;
    const cols = db.prepare(`PRAGMA table_info(${JSON.stringify(table)})`).all() as { name: string }[];
    return cols.some((c) => c.name.toLowerCase() === column.toLowerCase()) ? '' : stmt;
  });
}

/** Applies pending migrations in order, each in its own transaction, recording `sipwarden_migrations`. */
export function runMigrations(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS sipwarden_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const current = (db.prepare('SELECT MAX(version) AS v FROM sipwarden_migrations').get() as { v: number | null }).v ?? 0;
  const record = db.prepare('INSERT INTO sipwarden_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(skipExistingColumns(db, m.sql));
      record.run(m.version, m.name, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}

/** Connection pragmas.1 (WAL only for files). */
export function applyPragmas(db: Database.Database, path: string): void {
  if (path !== ':memory:') db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
}

/**
 * Writer-connection tuning (measured, see docs/STORE.md): a 16 MiB page cache (64 MiB measured no faster with 1M+
 * rows, where the random `event_uuid_index` outgrows either and the OS page cache serves the misses, and cost
 * ~50 MB of RSS), and a larger auto-checkpoint threshold (40 MiB of WAL) turns one fsync-ing checkpoint per
 * batch into one every few seconds at load.
 */
export function tuneWriter(db: Database.Database): void {
  db.pragma('cache_size = -16384');
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('journal_size_limit = 67108864');
}

/**
 * Opens the database at `path` (or `:memory:`) and brings it to {@link SCHEMA_VERSION}:
 * a newer schema → STORE_SCHEMA_TOO_NEW with the file untouched (checked read-only first); a SentryPeer database
 * with rows → `VACUUM INTO '<db>.pre-sipwarden-<UTC>.bak'` before any change; a 0-byte file counts as new.
 * Any other failure → STORE_OPEN_FAILED.
 */
export function openAndMigrate(path: string): { db: Database.Database; report: MigrationReport } {
  let info: Inspection;
  try {
    info = inspect(path);
  } catch (err) {
    throw new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, `cannot open database ${path}: ${(err as Error).message}`, 1, { cause: err });
  }
  if (info.version > SCHEMA_VERSION) {
    throw new SipwardenError(
      ERROR_CODES.STORE_SCHEMA_TOO_NEW,
      `database ${path} has schema version ${info.version}, newer than this build's ${SCHEMA_VERSION}; upgrade sipwarden`,
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    let backupPath: string | null = null;
    if (info.sentryPeer && info.hasRows) {
      backupPath = `${path}.pre-sipwarden-${compactUtc(new Date())}.bak`;
      for (let i = 1; existsSync(backupPath); i++) backupPath = `${path}.pre-sipwarden-${compactUtc(new Date())}-${i}.bak`;
      db.prepare('VACUUM INTO ?').run(backupPath);
    }
    applyPragmas(db, path);
    const applied = runMigrations(db);
    return { db, report: { fromSentryPeer: info.sentryPeer, backupPath, applied } };
  } catch (err) {
    db?.close();
    if (err instanceof SipwardenError) throw err;
    throw new SipwardenError(ERROR_CODES.STORE_OPEN_FAILED, `cannot open or migrate database ${path}: ${(err as Error).message}`, 1, { cause: err });
  }
}

/** Returns the persisted node id (`sipwarden_meta.node_id`), creating it once. */
export function ensureNodeId(db: Database.Database, makeId: () => string): string {
  db.prepare("INSERT OR IGNORE INTO sipwarden_meta (key, value) VALUES ('node_id', ?)").run(makeId());
  return (db.prepare("SELECT value FROM sipwarden_meta WHERE key = 'node_id'").get() as { value: string }).value;
}
