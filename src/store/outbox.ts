/**
 * The webhook outbox's SQL: rows written inside the batch transaction that inserts the `honey` rows (a store batch
 * hook, loaded by module URL into the writer thread, or run by the main-thread writer), and the statements the
 * delivery loop claims, retries, kills and deletes them with.
 */
import type Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
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

/** Hook factory for `EventStore.addBatchHookModule({ module, exportName: 'createOutboxHook' })`. */
export function createOutboxHook(): BatchHook {
  return (db, events) => insertOutboxRows(db, events);
}

/** The delivery loop's statements over one connection. */
export interface OutboxStatements {
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
export function prepareOutboxStatements(db: Database.Database): OutboxStatements {
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
