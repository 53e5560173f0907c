import type Database from 'better-sqlite3';

/** sqlite result codes of a write that failed for lack of space (ENOSPC surfaces as SQLITE_FULL or an I/O error). */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

/**
 * After a write failed for lack of space: checkpoints the WAL into the database and truncates it to zero bytes
 * (`PRAGMA wal_checkpoint(TRUNCATE)`). The WAL of a busy node holds tens of MB that the disk needs back; without
 * this the first space freed during an outage would be eaten by the WAL at once. Never waits for readers (an API
 * export holding a snapshot only makes the checkpoint partial) and never throws. Returns sqlite's
 * `{ busy, log, checkpointed }` row, or null when the pragma failed.
 */
export function releaseWal(db: Database.Database): { busy: number; log: number; checkpointed: number } | null {
  let prev: unknown = 5000;
  try {
    prev = db.pragma('busy_timeout', { simple: true });
    db.pragma('busy_timeout = 0');
    const rows = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    return rows[0] ?? null;
  } catch {
    return null;
  } finally {
    try {
      db.pragma(`busy_timeout = ${Number(prev) || 5000}`);
    } catch {
      /* the connection is unusable; the next write reports it */
    }
  }
}
