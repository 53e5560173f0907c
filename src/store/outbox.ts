/**
 * The webhook outbox: rows written inside the batch transaction that inserts the `honey` rows (by the store's
 * writer, in whichever thread it runs, once `EventStore.enableWebhookOutbox()` was called), and the typed
 * {@link WebhookOutbox} the delivery loop claims, retries, kills and deletes them through.
 */
import Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
import { applyPragmas } from './migrate.js';
import type { BatchHook } from './types.js';

/** The JSON-log format object as one compact line without `\n`: the webhook body. */
export function webhookBody(e: HoneypotEvent): string {
  const line = toJsonLogLine(e);
  return line.slice(0, -1);
}

const insertByDb = new WeakMap<Database.Database, Database.Statement>();

/** Inserts one pending outbox row per event (local or peer). Call inside the batch transaction. */
export function insertOutboxRows(db: Database.Database, events: readonly HoneypotEvent[]): void {
  let ins = insertByDb.get(db);
  if (!ins) {
    ins = db.prepare(
      "INSERT INTO webhook_outbox (event_uuid, body, state, attempts, created_at_us, next_attempt_us) VALUES (?, ?, 'pending', 0, ?, ?)",
    );
    insertByDb.set(db, ins);
  }
  const nowUs = Date.now() * 1000;
  for (const e of events) ins.run(e.eventUuid, webhookBody(e), nowUs, nowUs);
}

/** The batch hook that writes the outbox rows (run by the store's writer, in whichever thread it runs). */
export function createOutboxHook(): BatchHook {
  return (db, events) => insertOutboxRows(db, events);
}

/** One pending outbox row as the delivery loop reads it. */
export interface OutboxRow {
  outbox_id: number;
  event_uuid: string;
  /** The JSON body to POST ({@link webhookBody}). */
  body: string;
  attempts: number;
  created_at_us: number;
}

/**
 * The webhook outbox as the delivery loop sees it: claim pending rows in order, delete delivered ones, schedule a
 * retry, mark a row dead, trim and purge. Every method is synchronous (sqlite) and may throw; the caller decides
 * what a failure means (the rows stay as they are).
 */
export interface WebhookOutbox {
  /** Pending rows with `outbox_id > afterId`, oldest first, at most `limit`. */
  pending(afterId: number, limit: number): OutboxRow[];
  /** Deletes delivered rows, in one transaction. */
  deleteDelivered(ids: readonly number[]): void;
  /** A failed attempt: the row is tried again at `nextAttemptUs`. */
  retryLater(id: number, attempts: number, nextAttemptUs: number, lastError: string): void;
  /** Given up: the row is kept as `dead` (for the operator) until purged. */
  markDead(id: number, attempts: number, deadAtUs: number, lastError: string): void;
  /** Drops the `count` oldest pending rows (the backlog bound); returns how many were dropped. */
  trimOldestPending(count: number): number;
  /** Forgets dead rows that died before `us`. */
  purgeDeadBefore(us: number): void;
  /** Pending and dead row counts. */
  counts(): { pending: number; dead: number };
}

/** A {@link WebhookOutbox} over its own connection, closed by its user. */
export interface WebhookOutboxConnection extends WebhookOutbox {
  close(): void;
}

/**
 * The outbox over `db` (a connection to the database holding `webhook_outbox`). Statements are prepared on first
 * use, so it can be built before the schema is checked.
 */
export function webhookOutboxOn(db: Database.Database): WebhookOutbox {
  let st: OutboxStatements | null = null;
  const q = (): OutboxStatements => (st ??= prepareOutboxStatements(db));
  return {
    pending: (afterId, limit) => q().select.all(afterId, limit) as OutboxRow[],
    deleteDelivered: (ids) => q().delMany([...ids]),
    retryLater: (id, attempts, nextAttemptUs, lastError) => void q().retry.run(attempts, nextAttemptUs, lastError, id),
    markDead: (id, attempts, deadAtUs, lastError) => void q().dead.run(attempts, deadAtUs, lastError, id),
    trimOldestPending: (count) => q().trim.run(count).changes,
    purgeDeadBefore: (us) => void q().purge.run(us),
    counts: () => {
      const c = q().counts.get() as { pending: number | null; dead: number | null };
      return { pending: c.pending ?? 0, dead: c.dead ?? 0 };
    },
  };
}

/**
 * Opens the outbox of the database file at `path` on a connection of its own (WAL, busy timeout), for a thread
 * other than the store writer's (the webhook delivery thread). The file must exist (the store created it).
 */
export function openWebhookOutbox(path: string): WebhookOutboxConnection {
  const db = new Database(path, { fileMustExist: true });
  try {
    applyPragmas(db, path);
  } catch (err) {
    db.close();
    throw err;
  }
  return { ...webhookOutboxOn(db), close: () => db.close() };
}

/** The delivery loop's statements over one connection. */
interface OutboxStatements {
  /** Pending rows after an id, oldest first: `(afterId, limit)`. */
  select: Database.Statement;
  /** One delivered row: `(id)`. */
  del: Database.Statement;
  /** A failed attempt: `(attempts, nextAttemptUs, lastError, id)`. */
  retry: Database.Statement;
  /** Given up: `(attempts, deadAtUs, lastError, id)`. */
  dead: Database.Statement;
  /** Drops the oldest pending rows past the bound: `(count)`. */
  trim: Database.Statement;
  /** Forgets dead rows older than: `(us)`. */
  purge: Database.Statement;
  /** Pending and dead row counts. */
  counts: Database.Statement;
  /** Deletes delivered rows in one transaction. */
  delMany: (ids: number[]) => void;
}

/** Prepares the delivery loop's statements on `db`. */
function prepareOutboxStatements(db: Database.Database): OutboxStatements {
  const del = db.prepare('DELETE FROM webhook_outbox WHERE outbox_id = ?');
  return {
    select: db.prepare(
      "SELECT outbox_id, event_uuid, body, attempts, created_at_us FROM webhook_outbox WHERE state = 'pending' AND outbox_id > ? ORDER BY outbox_id LIMIT ?",
    ),
    del,
    retry: db.prepare('UPDATE webhook_outbox SET attempts = ?, next_attempt_us = ?, last_error = ? WHERE outbox_id = ?'),
    dead: db.prepare("UPDATE webhook_outbox SET state = 'dead', attempts = ?, dead_at_us = ?, last_error = ? WHERE outbox_id = ?"),
    trim: db.prepare(
      "DELETE FROM webhook_outbox WHERE outbox_id IN (SELECT outbox_id FROM webhook_outbox WHERE state = 'pending' ORDER BY outbox_id LIMIT ?)",
    ),
    purge: db.prepare("DELETE FROM webhook_outbox WHERE state = 'dead' AND dead_at_us < ?"),
    counts: db.prepare("SELECT SUM(state = 'pending') AS pending, SUM(state = 'dead') AS dead FROM webhook_outbox"),
    delMany: db.transaction((ids: number[]) => {
      for (const id of ids) del.run(id);
    }),
  };
}
